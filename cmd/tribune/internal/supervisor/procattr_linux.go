package supervisor

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill the child if the supervisor dies
// without stopping it (kill -9), so no orphan keeps the agent's ports.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
