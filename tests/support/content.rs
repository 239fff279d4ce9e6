//! Test content: the EICAR and GTUBE probes, and messages with an attachment.

/// The EICAR test string, assembled at run time so the source and the test
/// binary do not carry it in one piece.
pub fn eicar() -> String {
    format!("{}{}", "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR", "-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")
}

/// SpamAssassin's GTUBE, assembled at run time like [`eicar`].
pub fn gtube() -> String {
    format!("{}{}", "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD", "-ANTI-UBE-TEST-EMAIL*C.34X")
}

/// `data` in base64, lines of 76 characters, CRLF.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, c) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= c.len() {
                out.push(T[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out.push_str("\r\n");
    out
}

/// A multipart message from [`super::headers`] with `payload` attached in
/// base64 as `x.com`.
pub fn with_attachment(to: &str, subject: &str, payload: &[u8]) -> String {
    format!(
        "{}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
         --b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"x.com\"\r\n\r\n{}--b1--\r\n",
        super::headers(to, subject),
        base64(payload)
    )
}
