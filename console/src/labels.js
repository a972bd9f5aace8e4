// Chinese labels for the codes the API uses (the server's own `label_zh` where it has one).

export const KIND = {
  fence_exit: '越界', exclusion_entry: '进入禁止区域', curfew: '夜间未在居所', location_failure: '定位失败',
  device_silent: '失联', leave_overdue: '请假逾期未归', basis_expiring: '定位依据即将到期',
  mock_location: '疑似虚拟定位', low_battery: '电量低',
};
/** Higher is more urgent (breaches first, prompts last). */
export const KIND_URGENCY = {
  exclusion_entry: 9, fence_exit: 8, curfew: 8, leave_overdue: 7, mock_location: 6, device_silent: 5,
  location_failure: 4, basis_expiring: 2, low_battery: 1,
};
export const LEVEL = { lenient: '宽管', ordinary: '普管', strict: '严管' };
export const LEVEL_URGENCY = { lenient: 1, ordinary: 2, strict: 3 };
export const STATE = { open: '待处置', acknowledged: '已签收', resolved: '已处置', dismissed: '误报' };
export const EVENT = {
  opened: '报警', left_again: '再次越界', returned_inside: '已返回', confirmation_requested: '请求复核定位',
  confirmed: '复核确认', confirmation_withdrawn: '复核排除', acknowledged: '签收', resolved: '处置完毕',
  dismissed: '误报', escalated: '升级', overnight: '过夜', notice_sent: '通知已发送', notice_failed: '通知发送失败',
};
export const STEP = { county: '已升级至县区', city: '已升级至市局', overnight: '过夜' };
export const STEP_RANK = { county: 1, city: 2, overnight: 3 };
export const ROLE = { office_staff: '司法所工作人员', county_admin: '县区司法局', city_admin: '市司法局', auditor: '审计监督' };
export const LEAVE_STATE = { requested: '待审批', approved: '已批准', rejected: '已驳回', returned: '已销假', cancelled: '已撤销' };
export const ASSESSMENT_STATE = { proposed: '待审批', approved: '已批准', rejected: '已驳回' };
export const CORRECTION = { surveillance: '管制', probation: '缓刑', parole: '假释', temporary_outside_execution: '暂予监外执行' };
export const FENCE_KIND = { inclusion: '活动区域（须在内）', exclusion: '禁止区域（不得进入）' };
export const SHAPE = { area: '多边形', circle: '圆形', corridor: '走廊' };
export const VERDICT = { inside: '合规', uncertain: '存疑', outside: '违规' };
export const VERDICT_COLOUR = { inside: '#2e7d32', uncertain: '#f9a825', outside: '#c62828' };
export const BASIS = { consent: '手机定位承诺书', order: '电子定位决定（第二十九条）' };
export const PROTOCOL = { osmand: 'Traccar Client', owntracks: 'OwnTracks', native: '原生接口' };
export const PERSON_STATUS = { active: '在矫', released: '已解矫' };
export const AUDIT_ACTION = {
  login: '登录', 'login.failed': '登录失败', 'login.locked': '登录锁定', 'password.change': '修改密码',
  'person.read': '查看人员', 'person.create': '新增人员', 'person.edit': '修改人员', 'person.release': '解除矫正',
  'track.read': '查看轨迹', 'track.export': '导出轨迹', 'fence.create': '新建围栏', 'fence.edit': '修改围栏',
  'fence.retire': '停用围栏', 'alarm.acknowledge': '签收报警', 'alarm.resolve': '处置报警', 'alarm.dismiss': '报警误报',
  'leave.request': '请假申请', 'leave.approve': '批准请假', 'leave.reject': '驳回请假', 'leave.cancel': '撤销请假',
  'assessment.propose': '提出分级评估', 'assessment.approve': '批准分级', 'assessment.reject': '驳回分级',
  'basis.create': '登记定位依据', 'basis.revoke': '撤销定位依据', 'device.enrol': '登记手机', 'device.retire': '停用手机',
  'device.reenrol': '更换手机凭据', 'report.download': '查看/下载报表',
};
export const REPORT_KIND = { daily: '每日名单', weekly: '周报', monthly: '月报' };
export const WEEKDAYS = ['一', '二', '三', '四', '五', '六', '日'];

export function levelBadge(level, isKey, keyInterval) {
  const l = `<span class="badge ${level}">${LEVEL[level] || level}</span>`;
  return isKey ? `${l} <span class="badge key" title="重点人员${keyInterval ? `，每 ${keyInterval} 分钟定位` : ''}">重点</span>` : l;
}

export const label = (table, code) => (code == null ? '—' : table[code] || code);
