//! Shared helpers of the fuzz targets: splitting an input into pieces (any
//! split must give the same result as the whole), and the whole-session
//! target's scripted client, scripted upstream and oracle.

pub mod oracle;
pub mod session;
pub mod upstream;

/// `data` cut into pieces whose lengths cycle through `sizes` (a size of 0
/// counts as 1); no sizes: one piece.
pub fn pieces<'a>(data: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    if sizes.is_empty() {
        return vec![data];
    }
    let mut out = Vec::new();
    let mut rest = data;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let n = usize::from(size.max(1)).min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

/// Splits `input` into a small header of `n` bytes (zero-filled when short)
/// and the rest.
pub fn header<const N: usize>(input: &[u8]) -> ([u8; N], &[u8]) {
    let mut head = [0u8; N];
    let n = input.len().min(N);
    head[..n].copy_from_slice(&input[..n]);
    (head, &input[n..])
}
