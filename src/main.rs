fn main() {
    std::process::exit(lore::cli::main());
}
