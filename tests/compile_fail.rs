//! Shapes are checked by the compiler: mis-wired networks (and a replay
//! buffer of no samples, or with labels too narrow for its classes) do not
//! build.

#[test]
fn miswired_networks_do_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("compile_fail/*.rs");
}
