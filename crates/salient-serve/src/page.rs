//! The web page served at `GET /`: one self-contained HTML file (inline CSS and JavaScript, no
//! external resource), so it works on a machine without internet access.

/// `assets/index.html`.
pub(crate) const PAGE: &str = include_str!("../assets/index.html");
