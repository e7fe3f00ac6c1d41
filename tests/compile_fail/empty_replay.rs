// A replay buffer that can hold no sample does not compile.
use tinytrain::Replay;

static REPLAY: Replay<2, 1, 0> = Replay::latest();

fn main() {
    assert!(REPLAY.is_empty());
}
