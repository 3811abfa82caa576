package logtest_test

import (
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/logtest"
)

func TestBufferKeepsEveryRecordWrittenConcurrently(t *testing.T) {
	var logs logtest.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { log.Info("request", "n", i) })
	}
	wg.Wait()

	recs, err := logs.Records()
	require.NoError(t, err)
	require.Len(t, recs, 20, "no record lost or torn by a concurrent write")
	seen := map[float64]bool{}
	for _, r := range recs {
		assert.Equal(t, "request", r["msg"])
		seen[r["n"].(float64)] = true
	}
	assert.Len(t, seen, 20)
	assert.Contains(t, logs.String(), `"msg":"request"`)
}

func TestRecordsReportsOutputThatIsNotJSON(t *testing.T) {
	var logs logtest.Buffer
	_, _ = logs.Write([]byte("{\"msg\":\"ok\"}\nnot json\n"))
	recs, err := logs.Records()
	assert.Error(t, err)
	assert.Len(t, recs, 1, "the records before the bad line are kept")
}
