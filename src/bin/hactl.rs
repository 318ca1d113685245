//! hactl: control and inspect hbd (see hactl(8)).

fn main() -> std::process::ExitCode {
    hbd::hactl::main()
}
