package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/scenario-tool/scenario/runner"
)

// watchSignals turns SIGINT, SIGTERM, SIGHUP (the terminal closed),
// SIGQUIT and a closed stdout (SIGPIPE, or its reader gone) into an
// interruption: everything started is stopped, then the run exits 130. A
// second signal kills what is left at once. The signals are passed on
// to --parallel children through the returned channel.
func watchSignals(stdout, stderr io.Writer, cancel context.CancelCauseFunc, force chan struct{}) <-chan os.Signal {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE)
	closed := readerGone(stdout)
	interrupted := make(chan os.Signal, 2) // for parallel runs to pass on
	go func() {
		first := true
		for {
			var sig os.Signal
			select {
			case sig = <-signals:
			case <-closed:
				closed, sig = nil, syscall.SIGPIPE
			}
			// SIGPIPE comes for any write to a broken pipe or socket: a
			// probe writing to a connection the mesh just refused raises it
			// too. Only a stdout whose reader is gone interrupts the run.
			if sig == syscall.SIGPIPE && (!first || !stdoutBroken(stdout)) {
				continue
			}
			if first {
				first = false
				interrupted <- sig
				if sig == syscall.SIGPIPE {
					fmt.Fprintf(stderr, "\nscenario: stdout was closed (SIGPIPE): stopping everything started (a signal kills at once)\n")
				} else {
					fmt.Fprintf(stderr, "\nscenario: %s: stopping everything started (again to kill at once)\n", sigName(sig))
				}
				cancel(runner.Interrupt{Signal: sig})
				continue
			}
			interrupted <- sig
			fmt.Fprintln(stderr, "scenario: killing what is left")
			close(force)
			return
		}
	}()
	return interrupted
}

// stdoutBroken reports whether w is a pipe or socket whose reader has
// gone (the write end polls as POLLERR or POLLHUP); a file or a terminal
// never is.
func stdoutBroken(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&(os.ModeNamedPipe|os.ModeSocket) == 0 {
		return false
	}
	conn, err := f.SyscallConn()
	if err != nil {
		return false
	}
	broken := false
	_ = conn.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd)}}
		if n, err := unix.Poll(fds, 0); err == nil && n > 0 {
			broken = fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0
		}
	})
	return broken
}

// readerGone returns a channel closed once nobody reads w any more, when w
// is a pipe (`scenario run ... | head -5`), so that a run holding still
// (up) notices without waiting for its next write; nil otherwise.
func readerGone(w io.Writer) <-chan struct{} {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		return nil
	}
	conn, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	var fd int
	_ = conn.Control(func(p uintptr) { fd = int(p) })
	gone := make(chan struct{})
	go func() {
		// The write end of a pipe polls as POLLERR once its reader closed.
		fds := []unix.PollFd{{Fd: int32(fd)}}
		for {
			n, err := unix.Poll(fds, -1)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return
			}
			if n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
				close(gone)
				return
			}
		}
	}()
	return gone
}

func sigName(s os.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	}
	return s.String()
}

// useColor decides whether the report is coloured: never with --no-color
// or NO_COLOR (https://no-color.org), always with FORCE_COLOR (a CI log
// that shows colours, https://force-color.org; 0 or false do not force),
// else on a terminal that is not dumb.
func useColor(noColorFlag, tty bool) bool {
	if noColorFlag || os.Getenv("NO_COLOR") != "" {
		return false
	}
	if force := os.Getenv("FORCE_COLOR"); force != "" && force != "0" && force != "false" {
		return true
	}
	return tty && os.Getenv("TERM") != "dumb"
}

// isTerminal reports whether w is a terminal (not merely a character
// device: /dev/null is one too).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
