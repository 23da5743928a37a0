//! A stand-in for the Hugging Face hub on 127.0.0.1 that speaks the part of its protocol hf-hub's
//! `download_file` uses, and logs every request so tests can count them.
//!
//! - `HEAD|GET /{owner}/{name}/resolve/{revision}/{file}`: like the hub for an LFS file, a `302`
//!   to `/cdn/{owner}/{name}/{sha256}` carrying `X-Repo-Commit`, `X-Linked-Etag: "{sha256}"`, `X-Linked-Size` and
//!   a git `ETag`. Errors as the hub sends them: an unknown repository is `401` without a token and
//!   `404` with one (`X-Error-Code: RepoNotFound`), a gated repository `401`/`403`
//!   (`GatedRepo`), an unknown revision `404` (`RevisionNotFound`), an unknown file `404`
//!   (`EntryNotFound`, with `X-Repo-Commit`).
//! - `HEAD|GET /cdn/{owner}/{name}/{sha256}`: the content, `200` with `Content-Length`; a file marked
//!   [`Serve::CutAfter`] sends its full length header but closes the connection early.
//!
//! One thread accepts; each connection gets its own thread (at most [`MAX_WORKERS`] at once, then
//! the acceptor serves it itself) and one request (`Connection: close`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const MAX_WORKERS: usize = 16;

/// How the CDN serves a file's bytes.
#[derive(Clone, Copy, Debug)]
pub enum Serve {
    Whole,
    /// Announce the full length, send this many bytes, then hang up.
    CutAfter(usize),
}

/// A file in a hosted repository. `sha256` is what the hub advertises (normally the hash of `body`).
#[derive(Clone)]
pub struct HostedFile {
    pub body: Arc<Vec<u8>>,
    pub sha256: String,
    pub serve: Serve,
}

/// A hosted model repository at one commit.
#[derive(Clone)]
pub struct HostedRepo {
    pub commit: String,
    pub files: HashMap<String, HostedFile>,
    /// When set, the repository is gated: requests need `Authorization: Bearer {token}`.
    pub token: Option<String>,
}

/// One request as the mock saw it.
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub range: Option<String>,
}

struct State {
    repos: HashMap<String, HostedRepo>,
    log: Mutex<Vec<LoggedRequest>>,
    addr: SocketAddr,
}

pub struct MockHub {
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl MockHub {
    /// Serve `repos` (keyed `owner/name`) on a free port of 127.0.0.1.
    pub fn start(repos: HashMap<String, HostedRepo>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            repos,
            log: Mutex::new(Vec::new()),
            addr,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || accept_loop(listener, state, stop))
        };
        Self {
            state,
            stop,
            acceptor: Some(acceptor),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.state.addr)
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state.log.lock().unwrap().clone()
    }

    /// Requests with this method whose path contains `fragment`.
    pub fn count(&self, method: &str, fragment: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path.contains(fragment))
            .count()
    }
}

impl Drop for MockHub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.state.addr);
        if let Some(handle) = self.acceptor.take() {
            let _ = handle.join();
        }
    }
}

fn accept_loop(listener: TcpListener, state: Arc<State>, stop: Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        if active.load(Ordering::SeqCst) >= MAX_WORKERS {
            serve_connection(stream, &state);
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let (state, active) = (state.clone(), active.clone());
        std::thread::spawn(move || {
            serve_connection(stream, &state);
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

fn serve_connection(stream: TcpStream, state: &State) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let Some(request) = read_request(&stream) else {
        return;
    };
    eprintln!(
        "mock hub: {} {}{}",
        request.method,
        request.path,
        request
            .authorization
            .as_deref()
            .map(|a| format!(" [Authorization: {a}]"))
            .unwrap_or_default()
    );
    state.log.lock().unwrap().push(request.clone());
    let response = route(&request, state);
    let _ = write_response(stream, &request, response);
}

/// Request line and the headers we care about; `None` for a connection that sent nothing usable.
fn read_request(stream: &TcpStream) -> Option<LoggedRequest> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut request = LoggedRequest {
        method,
        path,
        authorization: None,
        range: None,
    };
    for _ in 0..100 {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 || line.trim().is_empty() {
            return Some(request);
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = Some(value.trim().to_string());
            match name.trim().to_ascii_lowercase().as_str() {
                "authorization" => request.authorization = value,
                "range" => request.range = value,
                _ => {}
            }
        }
    }
    None
}

struct Response {
    status: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Option<(Arc<Vec<u8>>, Serve)>,
}

impl Response {
    fn error(status: &'static str, code: &str, message: &str) -> Self {
        Self {
            status,
            headers: vec![
                ("X-Error-Code", code.to_string()),
                ("X-Error-Message", message.to_string()),
            ],
            body: None,
        }
    }
}

fn route(request: &LoggedRequest, state: &State) -> Response {
    let path = request.path.split('?').next().unwrap_or_default();
    if let Some(object) = path.strip_prefix("/cdn/") {
        return cdn(object, state);
    }
    let segments: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    let [owner, name, "resolve", revision, file] = segments.as_slice() else {
        return Response::error("404 Not Found", "NotFound", "no such route");
    };
    let Some(repo) = state.repos.get(&format!("{owner}/{name}")) else {
        return match request.authorization {
            Some(_) => Response::error("404 Not Found", "RepoNotFound", "Repository not found"),
            None => Response::error("401 Unauthorized", "RepoNotFound", "Repository not found"),
        };
    };
    if let Some(token) = &repo.token {
        match request.authorization.as_deref() {
            None => {
                return Response::error(
                    "401 Unauthorized",
                    "GatedRepo",
                    "Access to this model is restricted",
                )
            }
            Some(auth) if auth != format!("Bearer {token}") => {
                return Response::error(
                    "403 Forbidden",
                    "GatedRepo",
                    "Access to this model is restricted",
                )
            }
            Some(_) => {}
        }
    }
    if *revision != "main" && *revision != repo.commit {
        return Response::error("404 Not Found", "RevisionNotFound", "Invalid rev id");
    }
    let Some(hosted) = repo.files.get(*file) else {
        let mut response = Response::error("404 Not Found", "EntryNotFound", "Entry not found");
        response
            .headers
            .push(("X-Repo-Commit", repo.commit.clone()));
        return response;
    };
    Response {
        status: "302 Found",
        headers: vec![
            (
                "Location",
                format!("http://{}/cdn/{owner}/{name}/{}", state.addr, hosted.sha256),
            ),
            ("X-Repo-Commit", repo.commit.clone()),
            ("X-Linked-Etag", format!("\"{}\"", hosted.sha256)),
            ("X-Linked-Size", hosted.body.len().to_string()),
            (
                "ETag",
                "\"5b1d3b2ad1a4c7b9e0f0c3d6a8e2f1b4c7d9e0a1\"".to_string(),
            ),
        ],
        body: None,
    }
}

/// `/cdn/{owner}/{name}/{sha256}`: the bytes of the file the repository advertises with that hash.
fn cdn(object: &str, state: &State) -> Response {
    let hosted = object.rsplit_once('/').and_then(|(repo, sha)| {
        let repo = state.repos.get(repo)?;
        repo.files.values().find(|f| f.sha256 == sha)
    });
    match hosted {
        Some(f) => Response {
            status: "200 OK",
            headers: vec![("Content-Type", "binary/octet-stream".to_string())],
            body: Some((f.body.clone(), f.serve)),
        },
        None => Response::error("404 Not Found", "NotFound", "no such object"),
    }
}

fn write_response(
    mut stream: TcpStream,
    request: &LoggedRequest,
    response: Response,
) -> std::io::Result<()> {
    let length = response.body.as_ref().map_or(0, |(b, _)| b.len());
    let mut head = format!(
        "HTTP/1.1 {}\r\nConnection: close\r\nContent-Length: {length}\r\n",
        response.status
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if request.method != "HEAD" {
        if let Some((body, serve)) = &response.body {
            let sent = match serve {
                Serve::Whole => body.len(),
                Serve::CutAfter(n) => (*n).min(body.len()),
            };
            stream.write_all(&body[..sent])?;
        }
    }
    stream.flush()?;
    stream.shutdown(std::net::Shutdown::Both)
}
