package runner

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/scenario-tool/scenario/proc"
)

// LogsMarker is the file that marks a log folder as the runner's own. The
// runner clears a scenario's folder at its next run only when the folder
// holds it: nothing the runner did not create is ever removed.
const LogsMarker = ".scenario-logs"

const markerText = "This folder was created by `scenario run` for one scenario's logs; the next run of that scenario replaces it.\n"

// LogFolder is where the logs of the scenario called name go under dir.
func LogFolder(dir, name string) string {
	if dir == "" {
		dir = "logs"
	}
	return filepath.Join(dir, Slug(name))
}

// CheckLogFolder returns an error when path exists but is not a log
// folder the runner created, so that it must not be cleared.
func CheckLogFolder(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot use the log folder %s: %w", path, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("the log folder %s exists and is not a folder (a %s); scenario removes nothing it did not create: move it away or give another --logs", path, DescribeMode(st.Mode()))
	}
	if m, err := os.Lstat(filepath.Join(path, LogsMarker)); err != nil || !m.Mode().IsRegular() {
		return fmt.Errorf("the log folder %s exists but was not created by scenario (it has no %s file); scenario removes nothing it did not create: move it away or give another --logs", path, LogsMarker)
	}
	if pid, held := HeldBy(path); held {
		return fmt.Errorf("the log folder %s is that of a mesh scenario up (pid %d) holds; stop it first (Ctrl-C there) or give another --logs", path, pid)
	}
	return nil
}

// DescribeMode names a kind of file in words, for messages about a file
// that is not what was wanted.
func DescribeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m.IsRegular():
		return "regular file"
	}
	return "special file"
}

// prepareLogFolder replaces the runner's own folder at path, from an
// earlier run, by a fresh, private, marked one. The earlier folder is set
// aside at once (renamed, hidden) and removed in the background, with any
// that runs killed before their removal left: removing files just written
// waits for their writeback, 1-5 ms for basic.yaml's folder and 10-45 ms
// for a topology's. removed waits for that removal and says how it went;
// the run calls it before it ends.
func prepareLogFolder(path string) (removed func() error, err error) {
	if err := CheckLogFolder(path); err != nil {
		return nil, err
	}
	parent, base := filepath.Dir(path), filepath.Base(path)
	old := setAside(parent, base)
	if _, err := os.Lstat(path); err == nil {
		aside := filepath.Join(parent, fmt.Sprintf(".%s%s%d-%d", base, asideInfix, os.Getpid(), time.Now().UnixNano()))
		if err := os.Rename(path, aside); err != nil {
			return nil, fmt.Errorf("cannot clear the log folder of the last run: %w", err)
		}
		old = append(old, aside)
	}
	done := make(chan error, 1)
	go func() {
		var errs []error
		for _, dir := range old {
			if err := os.RemoveAll(dir); err != nil {
				errs = append(errs, err)
			}
		}
		done <- errors.Join(errs...)
	}()
	removed = sync.OnceValue(func() error {
		if err := <-done; err != nil {
			return fmt.Errorf("cannot remove the log folder of the last run (set aside beside %s; remove it by hand): %w", path, err)
		}
		return nil
	})
	if err := os.MkdirAll(parent, proc.DirMode); err != nil {
		return removed, fmt.Errorf("cannot create the log folder: %w", err)
	}
	// Mkdir, not MkdirAll: if something appeared there meanwhile, it is not ours.
	if err := os.Mkdir(path, proc.DirMode); err != nil {
		return removed, fmt.Errorf("cannot create the log folder: %w", err)
	}
	if err := os.WriteFile(filepath.Join(path, LogsMarker), []byte(markerText), proc.LogMode); err != nil {
		return removed, fmt.Errorf("cannot mark the log folder as scenario's: %w", err)
	}
	return removed, nil
}

// asideInfix names a log folder set aside for removal:
// .<folder>.removing-<pid>-<time>. A slug never begins with a dot, so no
// scenario's folder is ever taken for one.
const asideInfix = ".removing-"

// setAside lists the folders of base set aside in parent by runs killed
// before they removed them: only those that are the runner's own (marked).
func setAside(parent, base string) []string {
	entries, _ := os.ReadDir(parent)
	var out []string
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "."+base+asideInfix) {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		if m, err := os.Lstat(filepath.Join(dir, LogsMarker)); err == nil && m.Mode().IsRegular() {
			out = append(out, dir)
		}
	}
	return out
}

// maxSlug keeps a folder name within every file system's limit (255 bytes).
const maxSlug = 200

// Slug makes a scenario name a folder name, readably and injectively, so
// that two scenarios never share a folder: letters (of any script), digits,
// '-', '_' and '.' (not first) stay; every other byte becomes %XX, '%'
// included. "Deny web -> socat!" becomes "Deny%20web%20-%3E%20socat%21",
// ".." becomes "%2E.", "café" stays "café". A name too long for a file
// name keeps its start and gets a hash of the whole.
func Slug(name string) string {
	if name == "" {
		return "%empty"
	}
	var b strings.Builder
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		keep := r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' && i > 0) ||
			r >= utf8.RuneSelf && r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r))
		if keep {
			b.WriteString(name[i : i+size])
		} else {
			for _, c := range []byte(name[i : i+size]) {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
		i += size
	}
	s := b.String()
	if len(s) <= maxSlug {
		return s
	}
	// '~' is never kept above, so a shortened name cannot equal a whole one.
	cut := maxSlug - 18
	for cut > 0 && (!utf8.RuneStart(s[cut]) || strings.LastIndexByte(s[max(cut-2, 0):cut], '%') >= 0) {
		cut--
	}
	return fmt.Sprintf("%s~%x", s[:cut], sha256.Sum256([]byte(name)))[:cut+17]
}

// OpenLog opens the log called name in the scenario's folder for appending,
// after a header line naming command (redacted); steps that run commands
// without a process of their own (exec) log there. What is written
// through it is redacted line by line, as a process's output is; Close
// writes a partial last line and closes the file.
func (s *session) openLog(node, name, command string) (io.WriteCloser, string, error) {
	path, err := s.logPath(node, name)
	if err != nil {
		return nil, "", err
	}
	s.redactor.learnFrom(command)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, proc.LogMode)
	if err != nil {
		return nil, "", err
	}
	header := s.redactor.redact(fmt.Sprintf("# scenario: %s started %s: %s\n", name, time.Now().Format(time.RFC3339Nano), command))
	if _, err := f.WriteString(header); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("writing %s: %w", path, err)
	}
	return &redactedLog{SafeWriter: s.redactor.writer(f), f: f}, path, nil
}

// redactedLog is a log file written through the redactor.
type redactedLog struct {
	*SafeWriter
	f *os.File
}

func (l *redactedLog) Close() error {
	err := l.Flush()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// logFailures returns the log write errors of the processes started, if
// any: once cleanup has stopped them, every byte they wrote was copied.
func (s *session) logFailures() error {
	s.mu.Lock()
	started := append([]resource(nil), s.started...)
	s.mu.Unlock()
	var errs []error
	for _, r := range started {
		if err := r.proc.LogFailed(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
