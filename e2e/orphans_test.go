package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/internal/testenv"
	"github.com/scenario-tool/scenario/wait"
)

// zombieCount is a shell script that waits (boundedly) until want lines
// are in file and no zombie has the script's parent (the runner) as its
// own, and prints how many of each it saw last.
func zombieCount(file string, want int) string {
	return fmt.Sprintf(`n=0; while :; do
  e=0; [ -f %[1]s ] && e=$(wc -l < %[1]s)
  z=0; for f in /proc/[0-9]*/stat; do read -r line < $f 2>/dev/null || continue; set -- ${line##*) }; [ "$1" = Z ] && [ "$2" = "$PPID" ] && z=$((z+1)); done
  if [ $e -eq %[2]d ] && [ $z -eq 0 ] || [ $n -eq 100 ]; then echo "$e ended, $z zombies"; exit; fi
  n=$((n+1)); sleep 0.05
done`, file, want)
}

// The orphans a run's processes leave (a shell's background jobs) end
// while the run goes on; the runner, their subreaper, reaps them then:
// a step counting zombies under the runner from /proc finds none.
func TestARunReapsTheOrphansThatEndWhileItRuns(t *testing.T) {
	needScenarioOnly(t)
	const orphans = 40
	dir := t.TempDir()
	ended := filepath.Join(dir, "ended")
	count := writeScenario(t, dir, "count.sh", zombieCount(ended, orphans))
	src := fmt.Sprintf(`name: orphans
steps:
  - run: {name: orphans, command: "for i in $(seq %d); do (sh -c 'echo x >> %s' &); done; exec sleep 31.7"}
  - exec: {command: "sh %s", stdout: "^%d ended, 0 zombies\n$"}
`, orphans, ended, count, orphans)
	file := writeScenario(t, dir, "orphans.yaml", src)
	r := scenario(t, "run", file)
	r.mustExit(t, 0)
}

// Under `scenario up`, each connection a forking socat served leaves an
// orphan that ends with the connection; the held runner reaps them as
// they end.
func TestUpReapsTheForkedChildrenOfItsServers(t *testing.T) {
	testenv.Need(t, testenv.Program("socat"))
	src := "name: held-socat\nsteps:\n" +
		"  - run: {name: echo, command: \"socat TCP-LISTEN:7391,bind=127.0.0.1,reuseaddr,fork EXEC:cat\", ready: 127.0.0.1:7391}\n"
	file := writeScenario(t, t.TempDir(), "held-socat.yaml", src)
	up := exec.Command(scenarioBin, "up", "--logs", t.TempDir(), "--consul", consulBin, file)
	defer holdUp(t, up, "up never held the scenario")()
	const connections = 40
	for i := range connections {
		c, err := net.Dial("tcp", "127.0.0.1:7391")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "hello %d\n", i)
		buf := make([]byte, 64)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		c.Close()
		if err != nil || !strings.HasPrefix(string(buf[:n]), "hello") {
			t.Fatalf("connection %d: %q %v", i, buf[:n], err)
		}
	}
	// The forked socats end with their connections, and cat is theirs.
	err := wait.For(context.Background(), wait.Func("no zombie under the held runner", func(context.Context) error {
		if zombies := zombiesOf(up.Process.Pid); len(zombies) > 0 {
			return fmt.Errorf("after %d connections, zombies under the held runner: %v", connections, zombies)
		}
		return nil
	}), wait.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
}

// zombiesOf lists the zombie children of ppid.
func zombiesOf(ppid int) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[0] == "Z" && fields[1] == strconv.Itoa(ppid) {
			out = append(out, e.Name()+" "+s[:strings.LastIndexByte(s, ')')+1])
		}
	}
	return out
}
