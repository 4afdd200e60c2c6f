"""Everything outside the process: terraform, Terraform state, AWS, git, the emulator."""
