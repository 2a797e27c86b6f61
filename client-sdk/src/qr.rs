//! Sign-in requests as QR codes: PNG bytes, SVG markup and terminal text.

use qrcode::render::unicode::Dense1x2;
use qrcode::{Color, EcLevel, QrCode};

/// Pixels per module in the PNG.
const SCALE: usize = 8;
/// Modules of white border, as the QR specification asks.
const QUIET_ZONE: usize = 4;

fn code(text: &str) -> QrCode {
    // A sign-in request is under 400 characters: version 40 at level M holds 2,331 bytes.
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .expect("a sign-in request fits a QR code")
}

/// `text` as a QR code drawn with Unicode half blocks (two modules per character row).
pub fn terminal(text: &str) -> String {
    code(text)
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build()
}

/// `text` as a QR code in a grayscale PNG.
pub fn png(text: &str) -> Vec<u8> {
    let code = code(text);
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET_ZONE) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (index, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (x, y) = (
            (index % modules + QUIET_ZONE) * SCALE,
            (index / modules + QUIET_ZONE) * SCALE,
        );
        for row in y..y + SCALE {
            pixels[row * side + x..row * side + x + SCALE].fill(0);
        }
    }
    let mut out = Vec::new();
    let side = u32::try_from(side).expect("a QR image is small");
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("writing to memory");
    writer.write_image_data(&pixels).expect("writing to memory");
    writer.finish().expect("writing to memory");
    out
}

/// `text` as a QR code in SVG markup (one path of unit squares, with its quiet zone), sized by
/// the page that shows it; `label` is its accessible name.
pub fn svg(text: &str, label: &str) -> String {
    let code = code(text);
    let modules = code.width();
    let side = modules + 2 * QUIET_ZONE;
    let mut path = String::new();
    for (index, color) in code.to_colors().iter().enumerate() {
        if *color == Color::Dark {
            let (x, y) = (index % modules + QUIET_ZONE, index / modules + QUIET_ZONE);
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    let label: String = label
        .chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            other => other.to_string(),
        })
        .collect();
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" shape-rendering="crispEdges" role="img" aria-label="{label}"><rect width="{side}" height="{side}" fill="#fff"/><path fill="#000" d="{path}"/></svg>"##
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_has_signature_and_terminal_has_rows() {
        let png = png("sealgate:signin?v=1");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(terminal("sealgate:signin?v=1").lines().count() > 10);
    }

    #[test]
    fn svg_draws_the_same_modules_as_the_png() {
        let svg = svg("sealgate:signin?v=1", "QR \"code\" <x>");
        assert!(svg.starts_with("<svg "));
        assert!(svg.contains(r#"aria-label="QR &quot;code&quot; &lt;x&gt;""#));
        let dark = code("sealgate:signin?v=1")
            .to_colors()
            .iter()
            .filter(|c| **c == Color::Dark)
            .count();
        assert_eq!(svg.matches('M').count(), dark);
    }
}
