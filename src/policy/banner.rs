//! The greeting: what the client sees first, and the only place the upstream's
//! software name and version would leak. `pass` relays the upstream's greeting,
//! `rewrite` keeps its code and says only `<hostname> ESMTP`, `text` sends the
//! operator's template (validated at load: `crate::config::banner`).

use crate::config::BannerMode;
use crate::config::banner::render;
use crate::wire::Reply;

/// The greeting doorman sends for an upstream greeting with code `upstream_code`.
pub fn greeting(mode: BannerMode, template: &str, hostname: &str, upstream: &Reply) -> Reply {
    match mode {
        BannerMode::Pass => upstream.clone(),
        BannerMode::Rewrite => Reply::new(upstream.code(), format!("{hostname} ESMTP")),
        BannerMode::Text => {
            let date = crate::date::now();
            Reply::multi(upstream.code(), render(template, hostname, &date))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_and_text_hide_the_upstream() {
        let up = Reply::new(220, "backend.test ESMTP Postfix (Debian/GNU)");
        let r = greeting(BannerMode::Rewrite, "", "mx.example.test", &up);
        assert_eq!(r, Reply::new(220, "mx.example.test ESMTP"));
        let r = greeting(BannerMode::Text, "{hostname} hi\nline two\n", "mx.example.test", &up);
        assert_eq!(r.lines(), ["mx.example.test hi", "line two"]);
        assert_eq!(greeting(BannerMode::Pass, "", "mx", &up), up);
    }
}
