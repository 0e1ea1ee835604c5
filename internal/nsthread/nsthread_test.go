package nsthread

import (
	"errors"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/scenario-tool/scenario/internal/testenv"
)

func TestOnOwnThreadRaisesAPanicInTheCaller(t *testing.T) {
	defer func() {
		if p := recover(); p != "in fn" {
			t.Errorf("recovered %v, want fn's panic", p)
		}
	}()
	_ = OnOwnThread(func() error { panic("in fn") })
	t.Error("OnOwnThread returned after fn panicked")
}

func TestOnOwnThreadTellsOfAFunctionThatEndsItsGoroutine(t *testing.T) {
	err := OnOwnThread(func() error { runtime.Goexit(); return nil })
	if !errors.Is(err, errGoexit) {
		t.Errorf("got %v, want the Goexit error", err)
	}
	err = AtHome(func() error { runtime.Goexit(); return nil })
	if !errors.Is(err, errGoexit) {
		t.Errorf("AtHome: got %v, want the Goexit error", err)
	}
}

func TestOnOwnThreadReturnsFnsError(t *testing.T) {
	want := errors.New("fn's own")
	if err := OnOwnThread(func() error { return want }); err != want {
		t.Errorf("got %v", err)
	}
	if err := OnOwnThread(func() error { return nil }); err != nil {
		t.Errorf("got %v", err)
	}
}

// fn runs on a thread of its own, locked: not the caller's, and the same
// from start to end even when fn blocks in between.
func TestOnOwnThreadRunsFnOnALockedThreadOfItsOwn(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	caller := unix.Gettid()
	err := OnOwnThread(func() error {
		first := unix.Gettid()
		for i := 0; i < 20; i++ {
			runtime.Gosched()
			ch := make(chan struct{})
			go close(ch)
			<-ch
		}
		if now := unix.Gettid(); now != first {
			return errors.New("fn moved between threads: it was not locked")
		}
		if first == caller {
			return errors.New("fn ran on the caller's thread")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A thread fn moves elsewhere comes home, and so does one left in another
// namespace by a panic.
func TestOnOwnThreadBringsAMovedThreadHome(t *testing.T) {
	testenv.Need(t, testenv.Root)
	for _, panics := range []bool{false, true} {
		var tid int
		func() {
			defer func() {
				if p := recover(); p != nil && !panics {
					t.Fatal(p)
				}
			}()
			err := OnOwnThread(func() error {
				tid = unix.Gettid()
				if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
					return err
				}
				if here := threadNamespace(t, tid); here == homeIno(t) {
					t.Errorf("unshare left thread %d at home", tid)
				}
				if panics {
					panic("after moving")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}()
		if here := threadNamespace(t, tid); here != homeIno(t) {
			t.Errorf("thread %d is in net:[%d] after OnOwnThread, not home (net:[%d])", tid, here, homeIno(t))
		}
	}
}

// AtHome runs fn at home even when the caller's thread is elsewhere.
func TestAtHomeRunsAtHomeWhereverTheCallerIs(t *testing.T) {
	testenv.Need(t, testenv.Root)
	err := OnOwnThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return err
		}
		return AtHome(func() error {
			if here := threadNamespace(t, unix.Gettid()); here != homeIno(t) {
				t.Errorf("AtHome's fn runs in net:[%d], not home (net:[%d])", here, homeIno(t))
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func homeIno(t *testing.T) uint64 {
	t.Helper()
	if err := openHome(); err != nil {
		t.Fatal(err)
	}
	return home.ino
}

// threadNamespace is the inode of the network namespace thread tid of
// this process is in.
func threadNamespace(t *testing.T, tid int) uint64 {
	t.Helper()
	var st unix.Stat_t
	path := "/proc/self/task/" + strconv.Itoa(tid) + "/ns/net"
	if err := unix.Stat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			t.Fatalf("thread %d has ended", tid)
		}
		t.Fatal(err)
	}
	return st.Ino
}
