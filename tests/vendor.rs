//! The vendored crates are the published ones plus the listed patches,
//! and nothing else (vendor/README.md).

use std::process::Command;

#[test]
fn vendored_crates_are_published_crates_plus_listed_patches() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(format!("{root}/vendor/check.sh"))
        .output()
        .expect("bash runs vendor/check.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "vendor/check.sh failed:\n{stdout}\n{stderr}"
    );
    for krate in ["candle-core-0.10.2", "mistralrs-core-0.8.1"] {
        assert!(
            stdout.contains(&format!("vendor: {krate} = published crate + ")),
            "{krate} was not checked:\n{stdout}"
        );
    }
}

#[test]
fn every_patch_is_marked_in_the_source_and_listed_in_the_readme() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("vendor");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut patches = 0;
    for krate in std::fs::read_dir(root.join("patches")).unwrap() {
        for patch in std::fs::read_dir(krate.unwrap().path()).unwrap() {
            let path = patch.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                readme.contains(&format!("`{name}`")),
                "{name} is not in vendor/README.md"
            );
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.lines()
                    .any(|l| l.starts_with('+') && l.contains("lore patch (")),
                "{name} adds no `lore patch (name)` marker"
            );
            patches += 1;
        }
    }
    assert_eq!(
        patches, 6,
        "vendor/patches holds a patch the test does not expect"
    );
}
