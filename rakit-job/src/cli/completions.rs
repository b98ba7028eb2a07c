//! `completions SHELL`: the shell completion script clap_complete writes from the
//! commands' declarations, mended where a colon in `job:runall` would break it.

use super::Failure;
use super::args::Cli;
use clap::CommandFactory;
use clap_complete::Shell;
use std::io::Write;

/// Writes the completion script of `shell` for this program.
pub(crate) fn write(shell: Shell, out: &mut dyn Write) -> Result<(), Failure> {
    out.write_all(script(shell, &super::program_name()).as_bytes())?;
    Ok(())
}

/// The script for `shell`, naming the program `program`.
fn script(shell: Shell, program: &str) -> String {
    let mut command = Cli::command();
    // Into a buffer first: clap_complete panics when its writer fails (a closed pipe).
    let mut bytes = Vec::new();
    clap_complete::generate(shell, &mut command, program, &mut bytes);
    let mut script = String::from_utf8_lossy(&bytes).into_owned();
    if shell == Shell::Zsh {
        // zsh's `_describe` reads `'name:help'` up to the first colon and clap_complete
        // leaves the one of `job:runall` as it is, so zsh would offer `job` alone.
        for name in command.get_subcommands().map(|c| c.get_name()) {
            let escaped = name.replace(':', "\\:");
            script = script.replace(&format!("'{name}:"), &format!("'{escaped}:"));
        }
    }
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_every_command() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let text = script(shell, "my-app");
            assert!(text.contains("my-app"), "{shell}");
            for name in ["job:runall", "job:jobs", "job:prune-failed"] {
                let escaped = name.replace(':', "\\:");
                assert!(
                    text.contains(name) || text.contains(&escaped),
                    "{shell} lacks {name}"
                );
            }
        }
    }

    #[test]
    fn zsh_sees_the_colon_as_part_of_the_command_name() {
        let text = script(Shell::Zsh, "my-app");
        assert!(text.contains("'job\\:runall:Run a worker"), "{text}");
        assert!(!text.contains("'job:runall:"), "{text}");
    }
}
