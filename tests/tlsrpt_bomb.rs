//! A gzip decompression bomb sent as a TLSRPT report (RFC 8460 §5.2) is
//! refused in bounded memory: 1 GiB of zeros in about 1 MiB of gzip stops
//! at the decompressed-size limit, and the most memory the test binary
//! holds at once meanwhile is measured by a counting allocator. One test in
//! this binary, so no other test's allocations are counted.

use flate2::write::GzEncoder;
use flate2::Compression;
use mtasts_exporter::rfc::rfc8460::report::ReportError;
use mtasts_exporter::rfc::rfc8460::report_body::{
    decode_report, report_json, DEFAULT_DECOMPRESSED_LIMIT,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting the bytes held now and the most held.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let held = HELD.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(held, Ordering::SeqCst);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        HELD.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: usize = 1024 * 1024;

/// 1 GiB of zeros as 1024 gzip members of 1 MiB each (a gzip stream may
/// hold several members: RFC 1952 §2.2), built without holding 1 GiB.
fn bomb() -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder
        .write_all(&vec![0u8; MIB])
        .unwrap_or_else(|error| panic!("{error}"));
    let member = encoder.finish().unwrap_or_else(|error| panic!("{error}"));
    member.repeat(1024)
}

#[test]
fn a_decompression_bomb_is_refused_in_bounded_memory() {
    let bomb = bomb();
    assert!(bomb.len() < 2 * MIB, "bomb of {} bytes", bomb.len());

    let before = HELD.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let json = report_json(&bomb, DEFAULT_DECOMPRESSED_LIMIT);
    assert_eq!(
        json,
        Err(ReportError::TooLarge {
            limit: DEFAULT_DECOMPRESSED_LIMIT
        })
    );
    let peak = PEAK.load(Ordering::SeqCst) - before;
    eprintln!(
        "1 GiB bomb in {} bytes of gzip: refused at a peak of {peak} bytes",
        bomb.len()
    );
    // The output buffer doubles as it grows, up to the limit: while it
    // moves, the smaller one before it is held too (16 MiB and 20 MiB here),
    // so under twice the limit plus the decoder's state; far from the 1 GiB
    // the bomb holds.
    assert!(
        peak <= 2 * DEFAULT_DECOMPRESSED_LIMIT + 4 * MIB,
        "peak {peak} bytes"
    );

    // A smaller limit bounds it as well, and the whole decode says why.
    PEAK.store(HELD.load(Ordering::SeqCst), Ordering::SeqCst);
    let before = HELD.load(Ordering::SeqCst);
    let decoded = decode_report(&bomb, MIB);
    assert_eq!(decoded.err().map(|e| e.cause()), Some("too-large"));
    let peak = PEAK.load(Ordering::SeqCst) - before;
    assert!(peak <= 2 * MIB + 4 * MIB, "peak {peak} bytes");
}
