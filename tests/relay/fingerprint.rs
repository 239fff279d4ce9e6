//! `nmap -sV` (Debian's nmap) against doorman in front of the real Postfix:
//! it may see an SMTP service, but no product and no version. nmap's
//! probes also include HTTP, RTSP, SSL and others sent before and after the
//! greeting, so this is the whole surface a scanner sees.

use std::time::Duration;

use crate::support::binary::Binary;
use crate::support::postfix::postfix;

/// The `<service .../>` element of nmap's XML report for `port`.
fn service(xml: &str, port: u16) -> String {
    let start = xml.find(&format!("portid=\"{port}\"")).unwrap_or_else(|| panic!("no port {port} in\n{xml}"));
    let rest = &xml[start..];
    let tag = rest.find("<service ").unwrap_or_else(|| panic!("no service in\n{rest}"));
    let end = rest[tag..].find("/>").map_or(rest.len(), |e| tag + e);
    rest[tag..end].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nmap_names_no_product_behind_doorman() {
    let direct = postfix().addr();
    let d = Binary::start(&direct, "").await;
    let run = |port: u16| {
        tokio::process::Command::new("nmap")
            .args([
                "-sV",
                "-sT",
                "-Pn",
                "-n",
                "--version-intensity",
                "7",
                "-p",
                &port.to_string(),
                "-oX",
                "-",
                "127.0.0.1",
            ])
            .kill_on_drop(true)
            .output()
    };
    let out = tokio::time::timeout(Duration::from_secs(300), run(d.addr.port()))
        .await
        .expect("nmap within 300 s")
        .expect("nmap runs (install nmap)");
    let xml = String::from_utf8_lossy(&out.stdout);
    let through = service(&xml, d.addr.port());
    assert!(through.contains("name=\"smtp\""), "{through}");
    for attr in ["product=", "version=", "extrainfo=", "ostype=", "<cpe>"] {
        assert!(!through.contains(attr), "nmap named something behind doorman: {through}");
    }
    // The same scan names Postfix when it faces the client itself.
    let port: u16 = direct.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port");
    let out = tokio::time::timeout(Duration::from_secs(300), run(port)).await.expect("nmap").expect("nmap");
    let bare = service(&String::from_utf8_lossy(&out.stdout), port);
    assert!(bare.contains("product=\"Postfix smtpd\""), "{bare}");
}
