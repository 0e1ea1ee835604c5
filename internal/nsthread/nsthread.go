// Package nsthread runs a function on an OS thread moved into another
// network namespace and brought back (OnOwnThread, In), for the nodes of
// a topology and for a look at the sockets of another namespace.
//
// The thread is a goroutine's own, locked to it, which enters the
// namespace (setns), runs the function and comes back. Coming back is
// the rule, not letting the thread go: the thread a locked goroutine ends
// on may be the main thread, which Go cannot end but parks forever, still
// holding the namespace it was in. So while no goroutine holds it, every
// thread of the process is in one namespace, its home, and a hop returns
// its thread there. The home is opened once: opening a thread's own
// namespace (/proc/thread-self/ns/net) cost about 10 µs on the project's
// machine, twice what the rest of a hop costs (a setns in and out, 3 µs;
// the goroutine, under 1 µs).
//
// A thread kept inside a namespace between hops, handed each call, costs
// more, not less: waking a goroutine locked to another thread, and
// parking it again, hands the processor between threads twice a call
// (10-35 µs, the more the busier the machine); and it would keep the
// namespace alive until told to leave.
package nsthread

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

var home struct {
	once     sync.Once
	fd       int
	dev, ino uint64
	err      error
}

// openHome opens the home namespace, once, from a goroutine of its own:
// the caller's thread may be locked elsewhere; a fresh goroutine's is not.
func openHome() error {
	home.once.Do(func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				home.err = fmt.Errorf("opening this process's network namespace: %w", err)
				return
			}
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				unix.Close(fd)
				home.err = fmt.Errorf("reading this process's network namespace: %w", err)
				return
			}
			home.fd, home.dev, home.ino = fd, st.Dev, st.Ino
		}()
		<-done
	})
	return home.err
}

// IsHome says whether the namespace with device dev and inode ino (as
// stat gives them for a namespace file) is the process's home: the one
// every thread is in while no goroutine holds it.
func IsHome(dev, ino uint64) (bool, error) {
	if err := openHome(); err != nil {
		return false, err
	}
	return dev == home.dev && ino == home.ino, nil
}

// errGoexit is what a caller hears when fn ended its goroutine.
var errGoexit = errors.New("the function run on its own thread ended its goroutine (runtime.Goexit)")

// outcome is how a function called on another goroutine ended.
type outcome struct {
	err      error
	panicked any
	didPanic bool
}

// run calls fn and keeps how it ended: its error, or its panic; if fn
// ends the goroutine (runtime.Goexit), the outcome is errGoexit.
func (o *outcome) run(fn func() error) {
	*o = outcome{err: errGoexit}
	defer func() {
		if p := recover(); p != nil {
			*o = outcome{panicked: p, didPanic: true}
		}
	}()
	o.err = fn()
}

// result is the outcome for the caller: fn's panic is raised again.
func (o outcome) result() error {
	if o.didPanic {
		panic(o.panicked)
	}
	return o.err
}

// OnOwnThread runs fn on a goroutine locked to its OS thread, fn being
// free to move the thread to another network namespace; afterwards the
// thread is returned to the home namespace and unlocked. If that return
// fails the thread stays locked, and Go ends it with the goroutine, so no
// caller is ever left in the wrong namespace. A panic in fn is raised
// again in the caller; if fn ends its goroutine (runtime.Goexit), the
// thread still goes home and the caller gets an error. Goroutines fn
// starts run elsewhere, at home.
func OnOwnThread(fn func() error) error {
	if err := openHome(); err != nil {
		return err
	}
	done := make(chan outcome, 1)
	go func() {
		runtime.LockOSThread()
		var o outcome
		defer func() {
			// A failed return is not fn's error: what fn did stands (a
			// child it started runs). The thread just must not serve
			// anyone else.
			if goHome() {
				runtime.UnlockOSThread()
			}
			done <- o
		}()
		o.run(fn)
	}()
	return (<-done).result()
}

// goHome returns the calling thread to the home namespace, and says
// whether it is there. A setns that fails may not have been needed (fn
// failed to leave; without CAP_SYS_ADMIN no setns succeeds): the thread's
// namespace is then looked at.
func goHome() bool {
	if unix.Setns(home.fd, unix.CLONE_NEWNET) == nil {
		return true
	}
	var st unix.Stat_t
	return unix.Stat("/proc/thread-self/ns/net", &st) == nil && st.Dev == home.dev && st.Ino == home.ino
}

// In runs fn on a thread inside the network namespace target (an open
// descriptor of it), as OnOwnThread does: sockets it creates and
// children it starts belong to that namespace.
func In(target int, fn func() error) error {
	return OnOwnThread(func() error {
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("entering the network namespace: setns: %w", err)
		}
		return fn()
	})
}

// AtHome runs fn on a goroutine of its own, so on a thread in the home
// namespace, whichever namespace the caller's (maybe locked) thread is
// in. It needs no privilege.
func AtHome(fn func() error) error {
	if err := openHome(); err != nil {
		return err
	}
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		defer func() { done <- o }()
		o.run(fn)
	}()
	return (<-done).result()
}
