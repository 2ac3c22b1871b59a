package bench

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill a process the bench started if the
// bench dies without stopping it, so no orphan keeps the ports.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
