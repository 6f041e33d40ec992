//! Images and their PNG encoding: palette images (one byte per pixel, what a single
//! layer renders to: small and fast to compress) and RGBA images (composites, legends).

use crate::{Error, Result};

/// An image of palette indices.
#[derive(Clone, Debug, PartialEq)]
pub struct Indexed {
    pub width: usize,
    pub height: usize,
    /// Row-major, top row first.
    pub pixels: Vec<u8>,
    /// Index → RGBA.
    pub palette: Vec<[u8; 4]>,
}

/// An RGBA image (not premultiplied).
#[derive(Clone, Debug, PartialEq)]
pub struct Rgba {
    pub width: usize,
    pub height: usize,
    /// Row-major, 4 bytes per pixel.
    pub data: Vec<u8>,
}

impl Indexed {
    /// The image in RGBA.
    pub fn to_rgba(&self) -> Rgba {
        let mut data = Vec::with_capacity(self.pixels.len() * 4);
        for &i in &self.pixels {
            data.extend_from_slice(&self.palette.get(usize::from(i)).copied().unwrap_or([0, 0, 0, 0]));
        }
        Rgba { width: self.width, height: self.height, data }
    }

    /// PNG with a palette (and a tRNS chunk when some colours are not opaque).
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.pixels.len() / 4 + 1024);
        {
            let mut enc = png::Encoder::new(&mut out, dim(self.width)?, dim(self.height)?);
            enc.set_color(png::ColorType::Indexed);
            enc.set_depth(png::BitDepth::Eight);
            let rgb: Vec<u8> = self.palette.iter().flat_map(|c| [c[0], c[1], c[2]]).collect();
            let alpha: Vec<u8> = self.palette.iter().map(|c| c[3]).collect();
            let keep = alpha.iter().rposition(|&a| a != 255).map_or(0, |i| i + 1);
            enc.set_palette(rgb);
            if keep > 0 {
                enc.set_trns(alpha[..keep].to_vec());
            }
            enc.set_compression(png::Compression::Fast);
            enc.set_filter(png::Filter::NoFilter);
            let mut w = enc.write_header().map_err(png_err)?;
            w.write_image_data(&self.pixels).map_err(png_err)?;
            w.finish().map_err(png_err)?;
        }
        Ok(out)
    }
}

impl Rgba {
    /// A transparent image.
    pub fn new(width: usize, height: usize) -> Rgba {
        Rgba { width, height, data: vec![0; width * height * 4] }
    }

    /// An image filled with one colour.
    pub fn filled(width: usize, height: usize, c: [u8; 4]) -> Rgba {
        let mut data = Vec::with_capacity(width * height * 4);
        for _ in 0..width * height {
            data.extend_from_slice(&c);
        }
        Rgba { width, height, data }
    }

    /// Set a pixel (ignored outside the image).
    #[inline]
    pub fn put(&mut self, x: i64, y: i64, c: [u8; 4]) {
        if x < 0 || y < 0 {
            return;
        }
        #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
        let (x, y) = (x as usize, y as usize);
        if x < self.width && y < self.height {
            let k = (y * self.width + x) * 4;
            self.data[k..k + 4].copy_from_slice(&c);
        }
    }

    /// Fill a rectangle.
    pub fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, c: [u8; 4]) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.put(xx, yy, c);
            }
        }
    }

    /// Draw `top` over this image ("source over" alpha compositing).
    pub fn draw_over(&mut self, top: &Rgba) {
        for (d, s) in self.data.chunks_exact_mut(4).zip(top.data.chunks_exact(4)) {
            let sa = u32::from(s[3]);
            if sa == 0 {
                continue;
            }
            if sa == 255 {
                d.copy_from_slice(s);
                continue;
            }
            let da = u32::from(d[3]);
            let out_a = sa * 255 + da * (255 - sa);
            if out_a == 0 {
                continue;
            }
            for k in 0..3 {
                let v = (u32::from(s[k]) * sa * 255 + u32::from(d[k]) * da * (255 - sa)) / out_a;
                d[k] = u8::try_from(v).unwrap_or(255);
            }
            d[3] = u8::try_from(out_a / 255).unwrap_or(255);
        }
    }

    /// JPEG (quality 1-100), drawn over an opaque background colour.
    pub fn to_jpeg(&self, quality: u8, background: [u8; 3]) -> Result<Vec<u8>> {
        let mut rgb = Vec::with_capacity(self.width * self.height * 3);
        for p in self.data.chunks_exact(4) {
            let a = u32::from(p[3]);
            for k in 0..3 {
                let v = (u32::from(p[k]) * a + u32::from(background[k]) * (255 - a) + 127) / 255;
                rgb.push(u8::try_from(v).unwrap_or(255));
            }
        }
        let side = |n: usize| {
            u16::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| Error::bad(format!("invalid JPEG size {n}")))
        };
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100))
            .encode(&rgb, side(self.width)?, side(self.height)?, jpeg_encoder::ColorType::Rgb)
            .map_err(|e| Error::Internal(format!("JPEG encoding failed: {e}")))?;
        Ok(out)
    }

    /// PNG, RGBA 8 bits.
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.data.len() / 4 + 1024);
        {
            let mut enc = png::Encoder::new(&mut out, dim(self.width)?, dim(self.height)?);
            enc.set_color(png::ColorType::Rgba);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_compression(png::Compression::Fast);
            let mut w = enc.write_header().map_err(png_err)?;
            w.write_image_data(&self.data).map_err(png_err)?;
            w.finish().map_err(png_err)?;
        }
        Ok(out)
    }
}

fn dim(n: usize) -> Result<u32> {
    u32::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| Error::bad(format!("invalid image size {n}")))
}

fn png_err(e: png::EncodingError) -> Error {
    Error::Internal(format!("PNG encoding failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexed_png_round_trip_header() {
        let img = Indexed {
            width: 3,
            height: 2,
            pixels: vec![0, 1, 2, 2, 1, 0],
            palette: vec![[0, 0, 0, 0], [255, 0, 0, 255], [0, 255, 0, 128]],
        };
        let png = img.to_png().expect("png");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let dec = png::Decoder::new(std::io::Cursor::new(png));
        let mut r = dec.read_info().expect("info");
        let mut buf = vec![0; r.output_buffer_size().expect("size")];
        let info = r.next_frame(&mut buf).expect("frame");
        assert_eq!((info.width, info.height), (3, 2));
        assert_eq!(img.to_rgba().data[4..8], [255, 0, 0, 255]);
    }

    #[test]
    fn compositing() {
        let mut a = Rgba::filled(1, 1, [0, 0, 255, 255]);
        a.draw_over(&Rgba::filled(1, 1, [255, 0, 0, 128]));
        assert_eq!(a.data, vec![128, 0, 127, 255]);
        let mut b = Rgba::new(1, 1);
        b.draw_over(&Rgba::filled(1, 1, [255, 0, 0, 128]));
        assert_eq!(b.data, vec![255, 0, 0, 128]);
        let jpg = Rgba::filled(8, 8, [255, 0, 0, 255]).to_jpeg(90, [255, 255, 255]).expect("jpeg");
        assert_eq!(&jpg[..2], &[0xff, 0xd8]);
    }
}
