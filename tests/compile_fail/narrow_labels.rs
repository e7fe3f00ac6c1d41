// One-byte class labels for more classes than a byte can count do not compile.
use tinytrain::Replay;

static REPLAY: Replay<2, 300, 8, u8> = Replay::latest();

fn main() {
    assert!(REPLAY.is_empty());
}
