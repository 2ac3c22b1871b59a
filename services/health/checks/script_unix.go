//go:build unix

package checks

import (
	"os/exec"
	"syscall"
)

// killProcessGroup runs cmd in its own process group and makes its
// cancellation kill the whole group, so that a timed-out script's
// children die with it (Consul's KillCommandSubtree).
func killProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
