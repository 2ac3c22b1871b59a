package bench

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// procRoot is where the proc file system is mounted; tests point it at a
// directory of their own.
var procRoot = "/proc"

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports (it is part of the ABI, not
// the kernel's HZ).
const clockTicks = 100

// procSample is a process's CPU time and memory at one moment.
type procSample struct {
	cpu time.Duration // user + system
	rss uint64        // VmRSS, bytes
	hwm uint64        // VmHWM, the peak RSS since the process started, bytes
}

// readProc samples pid's /proc/<pid>/stat and /proc/<pid>/status.
func readProc(pid int) (procSample, error) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return procSample{}, err
	}
	st, err := parseStat(stat)
	if err != nil {
		return procSample{}, fmt.Errorf("%s/stat: %w", dir, err)
	}
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return procSample{}, err
	}
	s := procSample{cpu: st.cpu}
	if s.rss, err = statusKB(status, "VmRSS"); err != nil {
		return procSample{}, fmt.Errorf("%s/status: %w", dir, err)
	}
	if s.hwm, err = statusKB(status, "VmHWM"); err != nil {
		return procSample{}, fmt.Errorf("%s/status: %w", dir, err)
	}
	return s, nil
}

type statFields struct {
	ppid int
	cpu  time.Duration
}

// parseStat reads the parent PID and utime+stime from a /proc/<pid>/stat
// line. The command name (field 2) is in parentheses and may hold spaces
// and parentheses itself: the fields after it start after the last ')'.
func parseStat(b []byte) (statFields, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return statFields{}, errors.New("no command name")
	}
	// Fields from 3 (state) on.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return statFields{}, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	ppid, err := strconv.Atoi(f[4-3])
	if err != nil {
		return statFields{}, fmt.Errorf("ppid: %w", err)
	}
	utime, err := strconv.ParseUint(f[14-3], 10, 64)
	if err != nil {
		return statFields{}, fmt.Errorf("utime: %w", err)
	}
	stime, err := strconv.ParseUint(f[15-3], 10, 64)
	if err != nil {
		return statFields{}, fmt.Errorf("stime: %w", err)
	}
	return statFields{ppid: ppid, cpu: time.Duration(utime+stime) * time.Second / clockTicks}, nil
}

// statusKB returns a "Key:   123 kB" line of /proc/<pid>/status in bytes.
func statusKB(b []byte, key string) (uint64, error) {
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, key+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s: unexpected %q", key, line)
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", key, err)
		}
		return n << 10, nil
	}
	return 0, fmt.Errorf("no %s line", key)
}

// tribuneProc is a running `tribune service NAME` process.
type tribuneProc struct {
	pid, ppid int
	service   string
	args      []string
}

// listTribuneServices lists the `tribune service NAME ...` processes.
func listTribuneServices() ([]tribuneProc, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	var out []tribuneProc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "cmdline"))
		if err != nil {
			continue // gone, or not ours to read
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		// The binary may be renamed (tribune-dev, tribune-1.2): its name
		// only has to start with tribune.
		if len(args) < 3 || !strings.HasPrefix(filepath.Base(args[0]), "tribune") || args[1] != "service" {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "stat"))
		if err != nil {
			continue
		}
		st, err := parseStat(stat)
		if err != nil {
			continue
		}
		out = append(out, tribuneProc{pid: pid, ppid: st.ppid, service: args[2], args: args[3:]})
	}
	return out, nil
}

// flagValue returns the value of -name in args ("-name v" or "-name=v").
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		a = strings.TrimPrefix(a, "-")
		a = strings.TrimPrefix(a, "-")
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// sameListenAddr reports whether a gateway listening on listen serves
// requests to addr: the same port, and the same host or a wildcard.
func sameListenAddr(listen, addr string) bool {
	lh, lp, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	ah, ap, err := net.SplitHostPort(addr)
	if err != nil || lp != ap {
		return false
	}
	if lh == ah || lh == "" {
		return true
	}
	ip := net.ParseIP(lh)
	return ip != nil && ip.IsUnspecified()
}

// findAgentServices finds the service processes of the agent whose HTTP
// API is at addr: the gateway with that -http-addr and its siblings under
// the same supervisor, by service name. Failing that, if only one agent's
// health service runs, its siblings.
func findAgentServices(addr string) (map[string]int, error) {
	procs, err := listTribuneServices()
	if err != nil {
		return nil, err
	}
	siblings := func(ppid int) map[string]int {
		m := map[string]int{}
		for _, p := range procs {
			if p.ppid == ppid {
				m[p.service] = p.pid
			}
		}
		return m
	}
	for _, p := range procs {
		if p.service != "gateway" {
			continue
		}
		if v, ok := flagValue(p.args, "http-addr"); ok && sameListenAddr(v, addr) {
			if m := siblings(p.ppid); m["health"] != 0 {
				return m, nil
			}
		}
	}
	var health []tribuneProc
	for _, p := range procs {
		if p.service == "health" {
			health = append(health, p)
		}
	}
	switch len(health) {
	case 0:
		return nil, errors.New("no `tribune service health` process found")
	case 1:
		return siblings(health[0].ppid), nil
	}
	return nil, fmt.Errorf("%d `tribune service health` processes and no gateway with -http-addr %s: give -pid", len(health), addr)
}
