//! A report as tables ([`tables`]: built once, with Chinese headers), written as XLSX
//! ([`xlsx`]: one sheet per table, numbers as numbers) or as one self-contained printable HTML
//! page ([`html`]: inline CSS, charts as inline SVG from [`svg`], no external resource).

pub mod daily;
pub mod html;
pub mod svg;
pub mod tables;
pub mod xlsx;

pub use html::html;
pub use tables::{tables, Cell, Table};
pub use xlsx::xlsx;

/// What "no value" looks like: a ratio whose denominator is zero, a median of nothing.
pub const NONE: &str = "—";

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("writing the workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
}
