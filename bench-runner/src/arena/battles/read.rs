//! The fast reader of battles files: blocks cut at line ends, quote-free blocks parsed in
//! parallel pieces, only the needed columns decoded.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::accumulate::Accumulator;
use super::{BATTLE_COLUMNS, Battles, DEFAULT_JUDGE, ReadOptions, Style};
use crate::error::{Error, Result};

/// Column positions in a battles.csv header (files may come from older writers with fewer
/// optional columns, or from elsewhere with only `model_a`, `model_b` and `winner`).
struct Cols {
    a: usize,
    b: usize,
    winner: usize,
    /// None: every battle is [`DEFAULT_JUDGE`]'s.
    judge: Option<usize>,
    /// None: the battles are in file order (tstamp 0 for all, and the online Elo is stable).
    tstamp: Option<usize>,
    style: Option<[usize; 8]>,
}

fn columns(path: &Path, header: &csv::ByteRecord, warnings: &mut Vec<String>) -> Result<Cols> {
    let find = |name: &str| header.iter().position(|h| h == name.as_bytes());
    let need = |name: &str| {
        find(name).ok_or_else(|| {
            Error::file(
                path,
                format!(
                    "not a battles file: no `{name}` column (needs model_a, model_b, winner; edgebench writes {})",
                    BATTLE_COLUMNS.join(",")
                ),
            )
        })
    };
    let style_names = [
        "tokens_a",
        "tokens_b",
        "headers_a",
        "headers_b",
        "lists_a",
        "lists_b",
        "bold_a",
        "bold_b",
    ];
    let style: Option<Vec<usize>> = style_names.iter().map(|n| find(n)).collect();
    let cols = Cols {
        a: need("model_a")?,
        b: need("model_b")?,
        winner: need("winner")?,
        judge: find("judge"),
        tstamp: find("tstamp"),
        style: style.map(|v| [v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]]),
    };
    if cols.judge.is_none() {
        warnings.push(format!(
            "{}: no `judge` column; its battles count as judge `{DEFAULT_JUDGE}`",
            path.display()
        ));
    }
    if cols.tstamp.is_none() {
        warnings.push(format!(
            "{}: no `tstamp` column; the online Elo takes its battles in file order",
            path.display()
        ));
    }
    Ok(cols)
}

/// How a file is cut: `block` bytes are read and parsed at a time (memory stays at about that
/// much whatever the file's size: a FastChat import of a million battles is ~200 MB of CSV),
/// and a block of at least `parallel_min` bytes is parsed in parallel pieces.
#[derive(Clone, Copy)]
struct Chunking {
    block: usize,
    parallel_min: usize,
}

const CHUNKING: Chunking = Chunking {
    block: 16 << 20,
    parallel_min: 4 << 20,
};

/// Reads one or more battles files into one set. A torn last line (a writer killed
/// mid-row) is dropped with a warning; any other bad row is an error naming file and row.
///
/// Speed matters here (a million rows in well under a second), and so does memory: a file
/// is read in blocks of 16 MB cut at line ends, rows are read as raw bytes into
/// one reused record, only the needed columns are decoded, and model names are interned.
/// A block without any quote character (so every line is one row) is cut into one piece per
/// core, parsed in parallel and merged in order; should a piece fail, the block is parsed
/// again serially for an exactly located error. From the first block with a quote on (a
/// quoted field may hold a line break), the rest of the file is parsed serially as a stream.
pub fn read(paths: &[impl AsRef<Path>], opts: &ReadOptions) -> Result<Battles> {
    read_chunked(paths, opts, CHUNKING)
}

fn read_chunked(
    paths: &[impl AsRef<Path>],
    opts: &ReadOptions,
    chunking: Chunking,
) -> Result<Battles> {
    let mut acc = Accumulator::new(opts);
    let mut warnings = Vec::new();
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8);
    for path in paths {
        read_file(
            path.as_ref(),
            opts,
            threads,
            chunking,
            &mut acc,
            &mut warnings,
        )?;
    }
    let mut out = acc.finish();
    out.warnings = warnings;
    Ok(out)
}

/// The length of `file` up to and including its last line end (0 if it has none).
fn complete_len(file: &mut File, len: u64) -> std::io::Result<u64> {
    let mut end = len;
    let mut buf = vec![0u8; 64 << 10];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

fn read_file(
    path: &Path,
    opts: &ReadOptions,
    threads: usize,
    chunking: Chunking,
    acc: &mut Accumulator,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let io = |e: std::io::Error| Error::read(path, e);
    let mut file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let complete = complete_len(&mut file, len).map_err(io)?;
    if complete < len {
        warnings.push(format!(
            "{}: dropped a torn last line ({} bytes) left by an interrupted write",
            path.display(),
            len - complete
        ));
    }
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let (cols, body_start) = {
        let mut rdr = csv::ReaderBuilder::new().from_reader((&file).take(complete));
        let header = rdr
            .byte_headers()
            .map_err(|e| Error::read(path, e))?
            .clone();
        // Where the header record ends (a quoted header may span lines).
        (
            columns(path, &header, warnings)?,
            rdr.position().byte().min(complete),
        )
    };
    if opts.want_style && cols.style.is_none() {
        return Err(Error::file(
            path,
            "style control needs the tokens/headers/lists/bold columns",
        ));
    }
    file.seek(SeekFrom::Start(body_start)).map_err(io)?;
    let mut offset = body_start; // file offset of buf[0]
    let mut unread = complete - body_start;
    let mut line = 1; // the header's row number; rows are numbered from 2
    let mut buf: Vec<u8> = Vec::new();
    while unread > 0 || !buf.is_empty() {
        let n = (unread as usize).min(chunking.block);
        let at = buf.len();
        buf.resize(at + n, 0);
        (&file).read_exact(&mut buf[at..]).map_err(io)?;
        unread -= n as u64;
        let cut = match buf.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if unread == 0 => buf.len(),
            None => continue, // a single row longer than a block: read on
        };
        let block = &buf[..cut];
        if block.contains(&b'"') {
            drop(buf);
            file.seek(SeekFrom::Start(offset)).map_err(io)?;
            let rest = (&file).take(complete - offset);
            parse_rows(path, rest, &cols, opts, acc, line)?;
            return Ok(());
        }
        let threads = if block.len() >= chunking.parallel_min {
            threads
        } else {
            1
        };
        line = parse_block(path, block, &cols, opts, acc, line, threads)?;
        buf.drain(..cut);
        offset += cut as u64;
    }
    Ok(())
}

/// Parses a quote-free block of whole lines, in `threads` parallel pieces.
fn parse_block(
    path: &Path,
    block: &[u8],
    cols: &Cols,
    opts: &ReadOptions,
    acc: &mut Accumulator,
    line: usize,
    threads: usize,
) -> Result<usize> {
    if threads > 1 {
        let pieces = split_lines(block, threads);
        let parts: Vec<Option<(Accumulator, usize)>> = std::thread::scope(|s| {
            let handles: Vec<_> = pieces
                .iter()
                .map(|piece| {
                    s.spawn(move || {
                        let mut a = Accumulator::new(opts);
                        parse_rows(path, *piece, cols, opts, &mut a, 0)
                            .ok()
                            .map(|rows| (a, rows))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().ok().flatten())
                .collect()
        });
        if parts.iter().all(Option::is_some) {
            let mut line = line;
            for (part, rows) in parts.into_iter().flatten() {
                acc.absorb(part);
                line += rows;
            }
            return Ok(line);
        }
    }
    parse_rows(path, block, cols, opts, acc, line)
}

/// Cuts `body` into about `n` pieces, each ending at a line end.
fn split_lines(body: &[u8], n: usize) -> Vec<&[u8]> {
    let mut pieces = Vec::with_capacity(n);
    let mut start = 0;
    for k in 1..n {
        let target = (body.len() * k / n).max(start);
        let Some(off) = body[target..].iter().position(|&b| b == b'\n') else {
            break;
        };
        let end = target + off + 1;
        if end > start {
            pieces.push(&body[start..end]);
            start = end;
        }
    }
    if start < body.len() {
        pieces.push(&body[start..]);
    }
    pieces
}

/// Parses header-less rows; `line` is the row number before the first of them (for errors).
/// Returns the row number of the last.
fn parse_rows(
    path: &Path,
    body: impl Read,
    cols: &Cols,
    opts: &ReadOptions,
    acc: &mut Accumulator,
    mut line: usize,
) -> Result<usize> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .buffer_capacity(1 << 16)
        .from_reader(body);
    let mut rec = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                return Err(Error::BadRow {
                    path: path.to_path_buf(),
                    row: line + 1,
                    source: e.into(),
                });
            }
        }
        line += 1;
        let field = |i: usize| -> Result<&str> {
            let f = rec
                .get(i)
                .ok_or_else(|| Error::file(path, format!("row {line}: too few fields")))?;
            std::str::from_utf8(f).map_err(|_| Error::file(path, format!("row {line}: not UTF-8")))
        };
        let tstamp = match cols.tstamp.map(field).transpose()?.unwrap_or("") {
            "" => 0.0,
            t => t.parse::<f64>().map_err(|_| {
                Error::file(path, format!("row {line}: tstamp `{t}` is not a number"))
            })?,
        };
        let style = match (opts.want_style, cols.style) {
            (true, Some(ix)) => {
                let mut v = [0.0; 8];
                let mut ok = true;
                for (k, &i) in ix.iter().enumerate() {
                    match field(i)? {
                        "" => ok = false,
                        s => {
                            v[k] = s.parse::<f64>().map_err(|_| {
                                Error::file(path, format!("row {line}: `{s}` is not a count"))
                            })?
                        }
                    }
                }
                ok.then_some((
                    Style {
                        tokens: v[0],
                        headers: v[2],
                        lists: v[4],
                        bold: v[6],
                    },
                    Style {
                        tokens: v[1],
                        headers: v[3],
                        lists: v[5],
                        bold: v[7],
                    },
                ))
            }
            _ => None,
        };
        let (a, b, w, j) = (
            field(cols.a)?,
            field(cols.b)?,
            field(cols.winner)?,
            cols.judge.map(field).transpose()?.unwrap_or(DEFAULT_JUDGE),
        );
        acc.push(path, line, a, b, w, j, tstamp, style)?;
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arena::battles::{BattleRow, Winner, appender, read_rows};

    #[test]
    fn append_then_read_back_with_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("battles.csv");
        let mut w = appender(&p).unwrap();
        let row = BattleRow {
            battle_id: "1".into(),
            model_a: "x, \"q\"".into(),
            model_b: "y".into(),
            winner: "tie (bothbad)".into(),
            judge: "human".into(),
            ..Default::default()
        };
        w.append(&row).unwrap();
        w.append(&BattleRow {
            winner: "model_b".into(),
            ..row.clone()
        })
        .unwrap();
        drop(w);
        let mut bytes = std::fs::read(&p).unwrap();
        bytes.extend_from_slice(b"3,x,y,mod");
        std::fs::write(&p, bytes).unwrap();
        let b = read(&[&p], &ReadOptions::default()).unwrap();
        assert_eq!(b.battles.len(), 2);
        assert_eq!(b.models, vec!["x, \"q\"", "y"]);
        assert_eq!(b.battles[0].winner, Winner::BothBad);
        assert_eq!(b.warnings.len(), 1);
        assert_eq!(read_rows(&p).unwrap()[0], row);
    }

    #[test]
    fn bad_winner_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.csv");
        std::fs::write(
            &p,
            format!(
                "{}\n1,a,b,model_c,h,p,0,0,,,,,,,,,\n",
                BATTLE_COLUMNS.join(",")
            ),
        )
        .unwrap();
        let e = read(&[&p], &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 2") && e.contains("model_c"), "{e}");
    }

    #[test]
    fn blocks_read_like_one_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.csv");
        crate::arena::synth::Synth::new(5, 3)
            .write_csv(&p, 3_000, 0.1, 3)
            .unwrap();
        let whole = Chunking {
            block: usize::MAX,
            parallel_min: usize::MAX,
        };
        let read_as = |p: &Path, c: Chunking| read_chunked(&[p], &ReadOptions::default(), c);
        let one = read_as(&p, whole).unwrap();
        assert_eq!(one.battles.len(), 3_000);
        assert_eq!(one.judges, vec![("synthetic".to_string(), 3_000)]);
        // Small blocks in parallel pieces; blocks shorter than a row (read on to a line end).
        for c in [(4096, 1024), (16, 1), (1000, usize::MAX)] {
            let b = read_as(
                &p,
                Chunking {
                    block: c.0,
                    parallel_min: c.1,
                },
            )
            .unwrap();
            assert_eq!(
                (&b.models, &b.battles, &b.judges),
                (&one.models, &one.battles, &one.judges)
            );
        }
        // A quote half-way: from that block on the rest is one serial stream, with a line break
        // inside a quoted name; a torn tail is dropped; a bad row after is located exactly.
        let text = std::fs::read_to_string(&p).unwrap();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        lines[1500] = lines[1500].replacen("synthetic", "\"syn\nthetic\"", 1);
        let q = dir.path().join("q.csv");
        std::fs::write(&q, format!("{}\n3001,model-00,mod", lines.join("\n"))).unwrap();
        let small = Chunking {
            block: 4096,
            parallel_min: 1024,
        };
        let (a, b) = (read_as(&q, whole).unwrap(), read_as(&q, small).unwrap());
        assert_eq!(
            (&a.models, &a.battles, &a.judges),
            (&b.models, &b.battles, &b.judges)
        );
        assert_eq!(b.battles.len(), 3_000);
        assert!(b.judges.iter().any(|j| j.0 == "syn\nthetic"));
        assert_eq!(b.warnings.len(), 1, "{:?}", b.warnings);
        for (at, row) in [(2_900, 2_902), (100, 102)] {
            let mut bad = lines.clone();
            bad[at + 1] = bad[at + 1].replacen("model_", "left_", 1);
            std::fs::write(&q, bad.join("\n") + "\n").unwrap();
            let e = read_as(&q, small).unwrap_err().to_string();
            assert!(
                e.contains(&format!("row {row}:")) && e.contains("left"),
                "{e}"
            );
        }
    }

    #[test]
    fn parallel_pieces_read_like_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.csv");
        crate::arena::synth::Synth::new(7, 3)
            .write_csv(&p, 120_000, 0.1, 3)
            .unwrap();
        let whole = read(&[&p], &ReadOptions::default()).unwrap();
        assert_eq!(whole.battles.len(), 120_000);
        // The serial path, forced by a quote in the file, must give the same battles.
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replacen("synthetic", "\"synthetic\"", 1);
        let q = dir.path().join("quoted.csv");
        std::fs::write(&q, text).unwrap();
        let serial = read(&[&q], &ReadOptions::default()).unwrap();
        assert_eq!(whole.models, serial.models);
        assert_eq!(whole.battles, serial.battles);
        assert_eq!(whole.judges, serial.judges);
        // A bad row far into a parallel file is still located exactly.
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("x,m1,m2,left,j,p,1,1,,,,,,,,,\n");
        std::fs::write(&p, text).unwrap();
        let e = read(&[&p], &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 120002") && e.contains("left"), "{e}");
        let pieces = split_lines(b"a\nbb\nccc\nd\n", 3);
        assert_eq!(pieces.concat(), b"a\nbb\nccc\nd\n");
        assert!(pieces.iter().all(|p| p.ends_with(b"\n")));
    }
}
