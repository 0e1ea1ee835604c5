package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"
)

// quiet measures the gap between two back-to-back writes of a backend as
// they arrive at a client through two built-in proxies: the quiet window
// of an exact reply must be well above it, or a reply followed by more
// bytes would pass as exact.
func quiet(scenarioBin, consul string, probes int) {
	up := exec.Command(scenarioBin, "up", "--no-color", "--consul", consul, "bench/testdata/quiet.yaml")
	out, _ := up.StderrPipe()
	up.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(up.Start())
	defer func() {
		_ = syscall.Kill(up.Process.Pid, syscall.SIGINT)
		_ = up.Wait()
	}()
	// `up` says on stderr when every step passed and the mesh is held.
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "everything is up") {
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	var gaps []time.Duration
	for i := 0; i < probes; i++ {
		gap, err := probeGap()
		if err != nil {
			fmt.Fprintln(os.Stderr, "probe:", err)
			continue
		}
		gaps = append(gaps, gap)
	}
	if len(gaps) == 0 {
		fmt.Fprintln(os.Stderr, "no probe succeeded")
		os.Exit(1)
	}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
	pct := func(p float64) time.Duration { return gaps[min(len(gaps)-1, int(p*float64(len(gaps))))] }
	fmt.Printf("gap between two back-to-back writes through both proxies, %d probes: median %s, p99 %s, max %s\n",
		len(gaps), pct(0.5), pct(0.99), gaps[len(gaps)-1])
}

// probeGap sends a line and times the arrival of the reply's second write
// after its first; 0 when both came in one read.
func probeGap() (time.Duration, error) {
	c, err := net.DialTimeout("tcp", "127.0.0.1:9191", time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("x\n")); err != nil {
		return 0, err
	}
	want := []byte("x\nextra\n")
	var got []byte
	var first time.Time
	buf := make([]byte, 64)
	for len(got) < len(want) {
		n, err := c.Read(buf)
		if n > 0 && first.IsZero() {
			first = time.Now()
		}
		got = append(got, buf[:n]...)
		if err != nil {
			return 0, fmt.Errorf("got %q: %w", got, err)
		}
	}
	if !bytes.Equal(got, want) {
		return 0, fmt.Errorf("got %q", got)
	}
	return time.Since(first), nil
}
