//! The report as an XLSX workbook: one sheet per table, the Chinese headers in the first row,
//! counts and minutes stored as numbers, ratios as fractions with a percent format; a ratio with
//! no denominator is the text "—".

use rust_xlsxwriter::{Format, FormatAlign, Workbook};

use super::tables::{tables, Cell, Table};
use super::RenderError;
use crate::report::Report;

/// The media type of a workbook, for downloads and mail attachments.
pub const CONTENT_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

pub fn xlsx(report: &Report) -> Result<Vec<u8>, RenderError> {
    workbook(&report.title(), tables(report))
}

/// A workbook of `tables`, one sheet each.
pub fn workbook(title: &str, tables: Vec<Table>) -> Result<Vec<u8>, RenderError> {
    let mut book = Workbook::new();
    book.set_properties(&rust_xlsxwriter::DocProperties::new().set_title(title).set_author("cctrack"));
    let header =
        Format::new().set_bold().set_background_color("DDE5F0").set_border(rust_xlsxwriter::FormatBorder::Thin);
    let pct = Format::new().set_num_format("0.0%");
    let one = Format::new().set_num_format("0.0");
    let none = Format::new().set_align(FormatAlign::Right);
    let wrap = Format::new().set_text_wrap();
    for table in tables {
        let sheet = book.add_worksheet();
        sheet.set_name(table.sheet)?;
        for (c, h) in table.headers.iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, *h, &header)?;
            let width = (h.chars().count() as f64 * 2.2).clamp(8.0, 24.0);
            sheet.set_column_width(c as u16, width)?;
        }
        for (i, row) in table.rows.iter().enumerate() {
            let r = i as u32 + 1;
            for (c, cell) in row.iter().enumerate() {
                let c = c as u16;
                match cell {
                    Cell::Text(s) => sheet.write_string(r, c, s).map(|_| ())?,
                    Cell::Link { text, url } => {
                        sheet.write_url_with_text(r, c, rust_xlsxwriter::Url::new(url.as_str()), text).map(|_| ())?
                    }
                    Cell::Int(n) => sheet.write_number(r, c, *n as f64).map(|_| ())?,
                    Cell::Pct(Some(x)) => sheet.write_number_with_format(r, c, *x, &pct).map(|_| ())?,
                    Cell::Minutes(Some(x)) | Cell::Score(x) => {
                        sheet.write_number_with_format(r, c, *x, &one).map(|_| ())?
                    }
                    Cell::Pct(None) | Cell::Minutes(None) => {
                        sheet.write_string_with_format(r, c, super::NONE, &none).map(|_| ())?
                    }
                }
            }
        }
        if table.sheet == "指标说明" || table.sheet == "概要" {
            sheet.set_column_width(1, 90)?;
            sheet.set_column_format(1, &wrap)?;
        }
        sheet.set_freeze_panes(1, 0)?;
    }
    Ok(book.save_to_buffer()?)
}
