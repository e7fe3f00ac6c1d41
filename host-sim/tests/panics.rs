//! A panic in any training thread (say, in a user's loss) reaches the caller
//! of `ParallelTrainer::train` as a panic, instead of leaving the other
//! threads waiting forever.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::{self, ThreadId};
use std::time::Duration;

use tinytrain::{init_seeded, Error, Init, Loss, Rng, Sgd, SgdConfig, SoftmaxCrossEntropy, Target};
use tinytrain_sim::nets::{Digits, LossKind};
use tinytrain_sim::{data, Order, Pacing, ParallelTrainer};

/// Softmax cross-entropy that panics once it has run `after` times, on the
/// training thread (`on_leader`) or on a worker.
struct PanicsAfter {
    leader: ThreadId,
    on_leader: bool,
    after: usize,
    calls: AtomicUsize,
}

impl Loss<10> for PanicsAfter {
    const NAME: &'static str = "panics";

    fn loss_grad(
        &self,
        out: &[f32; 10],
        target: &Target<10>,
        grad: &mut [f32; 10],
    ) -> Result<f32, Error> {
        let calls = self.calls.fetch_add(1, Ordering::Relaxed);
        let leader = thread::current().id() == self.leader;
        if calls >= self.after && leader == self.on_leader {
            panic!("injected failure in a loss");
        }
        SoftmaxCrossEntropy.loss_grad(out, target, grad)
    }

    fn correct(&self, out: &[f32; 10], target: &Target<10>) -> bool {
        SoftmaxCrossEntropy.correct(out, target)
    }
}

/// Trains W2 on 2 threads with a loss that panics on the chosen thread;
/// whether `train` panicked, or `None` if it had not returned after a minute.
fn panics_through(on_leader: bool) -> Option<bool> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let set = data::digits()
            .train
            .to_train_set::<64, 10>(LossKind::SoftmaxCe)
            .unwrap();
        let mut net = tinytrain::host::boxed::<Digits>();
        init_seeded(&mut *net, Init::PyTorchDefault, 1);
        let loss = PanicsAfter {
            leader: thread::current().id(),
            on_leader,
            after: 500,
            calls: AtomicUsize::new(0),
        };
        let sgd = Sgd::new(SgdConfig::new(0.05)).unwrap();
        let mut t = ParallelTrainer::new(net, loss, sgd, 2).unwrap();
        assert_eq!(t.threads_for(32), 2);
        // Every step on both threads: the pacing could otherwise run the
        // steps on the leader alone (on a busy machine), and the worker
        // would never reach its panic.
        t.set_pacing(Pacing::Team);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            t.train(
                &set,
                32,
                50,
                Order::Shuffled,
                &mut Rng::seed(3),
                |_| {},
                |_| std::ops::ControlFlow::Continue(()),
            )
        }));
        let _ = tx.send(outcome.is_err());
    });
    rx.recv_timeout(Duration::from_secs(60)).ok()
}

#[test]
fn a_panic_on_a_worker_thread_reaches_the_caller() {
    assert_eq!(panics_through(false), Some(true));
}

#[test]
fn a_panic_on_the_training_thread_reaches_the_caller() {
    assert_eq!(panics_through(true), Some(true));
}
