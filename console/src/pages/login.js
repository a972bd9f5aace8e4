// 登录: username and password; the server sets an HttpOnly session cookie.
import { h, field, formError, showFormError } from '../dom.js';
import { post, describe } from '../api.js';

export function loginPage(main, { reason, onSuccess }) {
  const user = h('input', { name: 'username', autocomplete: 'username', required: true, 'data-testid': 'login-username', autofocus: true });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, 'data-testid': 'login-password' });
  const button = h('button', { type: 'submit', class: 'primary', 'data-testid': 'login-submit' }, '登录');
  const form = h('form', { class: 'login', 'aria-label': '登录', novalidate: true },
    h('h1', {}, '社区矫正电子监管平台'),
    reason ? h('p', { class: 'notice' }, reason) : null,
    field('用户名', user),
    field('密码', pass),
    formError(),
    button,
    h('p', { class: 'muted small' }, '演示环境的账号和密码在启动时打印。'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showFormError(form, null);
    if (!user.value.trim()) return showFormError(form, { field: 'username' }, '请输入用户名');
    if (!pass.value) return showFormError(form, { field: 'password' }, '请输入密码');
    button.disabled = true;
    try {
      const r = await post('/api/v1/auth/login', { username: user.value.trim(), password: pass.value }, { expect401: true });
      await onSuccess(r.user);
    } catch (e) {
      const text = e.status === 401 ? '用户名或密码错误' : describe(e);
      showFormError(form, e.status === 401 ? { field: 'password' } : e, text);
    } finally {
      button.disabled = false;
    }
  });
  main.replaceChildren(form);
  user.focus();
}
