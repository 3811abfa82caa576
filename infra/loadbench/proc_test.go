package main

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const statusFile = `Name:	tickets
State:	S (sleeping)
VmPeak:	 2048876 kB
VmHWM:	   39744 kB
VmRSS:	   25120 kB
RssAnon:	    3720 kB
RssFile:	   21400 kB
Threads:	9
`

func TestParseStatusReadsResidentMemory(t *testing.T) {
	m, err := parseStatus(bufio.NewScanner(strings.NewReader(statusFile)))
	require.NoError(t, err)
	assert.Equal(t, memory{RSS: 25120, HWM: 39744, Anon: 3720}, m)
	assert.InDelta(t, 24.53, mib(m.RSS), 0.01)
}

func TestParseStatusRefusesWhatItCannotRead(t *testing.T) {
	for name, text := range map[string]string{
		"a kernel thread has no Vm lines": "Name:\tkthreadd\nState:\tS\n",
		"a unit it does not know":         "VmHWM:\t1 MB\nVmRSS:\t1 MB\n",
		"not a number":                    "VmHWM:\tlots kB\nVmRSS:\t1 kB\n",
		"an anonymous part not a number":  "VmHWM:\t1 kB\nVmRSS:\t1 kB\nRssAnon:\tsome kB\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseStatus(bufio.NewScanner(strings.NewReader(text)))
			assert.Error(t, err)
		})
	}
}

func TestReadMemoryOfThisProcess(t *testing.T) {
	m, err := readMemory(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, m.RSS)
	assert.GreaterOrEqual(t, m.HWM, m.RSS)
	assert.Positive(t, m.Anon, "this kernel reports RssAnon")
	assert.Less(t, m.Anon, m.RSS, "the mapped binary is resident too")
}

func TestParseStatusWithoutAnonymousMemoryStillReadsRSS(t *testing.T) {
	m, err := parseStatus(bufio.NewScanner(strings.NewReader("VmHWM:\t9 kB\nVmRSS:\t8 kB\n")))
	require.NoError(t, err, "kernels before 4.5 have no RssAnon")
	assert.Equal(t, memory{RSS: 8, HWM: 9}, m)
}

func TestParseStatCountsUserAndSystemTime(t *testing.T) {
	// A command name may hold spaces and parentheses; fields are counted
	// from the last ')'.
	line := "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 150 25 0 0 20 0 9 0 100 2000000 5000 18446744073709551615\n"
	d, err := parseStat(line)
	require.NoError(t, err)
	assert.Equal(t, 175*clockTick, d)
	assert.Equal(t, 1750*time.Millisecond, d)

	_, err = parseStat("4242 (short) S 1 2")
	assert.Error(t, err)
}

func TestCPUAccountAddsWhatEachProcessSpent(t *testing.T) {
	a := cpuAccount{}
	a.add(map[string]time.Duration{"tickets": time.Second, "auth": 5 * time.Second, "gone": time.Second},
		map[string]time.Duration{"tickets": 3 * time.Second, "auth": time.Second, "new": time.Second})
	assert.Equal(t, cpuAccount{"tickets": 2 * time.Second}, a, "a restarted process (its count fell) and one seen only once are left out")
	assert.Equal(t, 2*time.Second, a.total())
	assert.Equal(t, "total 2.00ms, tickets 2.00", perOp(a, 1000))
}

func TestEnvIntFindsAVariableInAnEnvironmentBlock(t *testing.T) {
	block := "PATH=/bin\x00GOMAXPROCS=1\x00PORT=3000\x00"
	n, ok := envInt(block, "GOMAXPROCS")
	assert.True(t, ok)
	assert.Equal(t, 1, n)
	_, ok = envInt(block, "MAXPROCS")
	assert.False(t, ok, "the whole name must match")
	_, ok = envInt("GOMAXPROCS=all\x00", "GOMAXPROCS")
	assert.False(t, ok)
}

// nginx's work is done by its worker, a child of the pid the runner records:
// a process is read together with its children.
func TestAProcessIsReadWithItsChildren(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 30 & wait")
	require.NoError(t, cmd.Start())
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	var kids []int
	require.Eventually(t, func() bool { kids = family(cmd.Process.Pid); return len(kids) == 2 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, cmd.Process.Pid, kids[0])
	defer func() { _ = syscall.Kill(kids[1], syscall.SIGKILL) }()

	// The three reads are moments apart, and a process that has just started
	// may still be touching pages between them: look again until they agree.
	var sum, both int64
	require.Eventually(t, func() bool {
		parent, err := readOwnMemory(kids[0])
		require.NoError(t, err)
		child, err := readOwnMemory(kids[1])
		require.NoError(t, err)
		family, err := readMemory(kids[0])
		require.NoError(t, err)
		sum, both = parent.RSS+child.RSS, family.RSS
		return sum == both
	}, 5*time.Second, 20*time.Millisecond, "a process's memory is its own plus its children's")
	assert.Equal(t, sum, both)
}
