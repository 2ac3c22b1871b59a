package supervisor

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill the child if the supervisor dies
// without stopping it (kill -9), so no orphan keeps the agent's ports, and
// puts the child in a process group of its own, so that a terminal's
// Ctrl-C (SIGINT to the foreground group) reaches only the supervisor,
// which then stops the children in order.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
