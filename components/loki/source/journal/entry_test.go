package journal

import (
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		name   string
		line   string
		fields map[string]string
		binary int
		err    bool
	}{
		{"text", `{"__CURSOR":"c","MESSAGE":"hi"}`, map[string]string{"__CURSOR": "c", "MESSAGE": "hi"}, 0, false},
		{"binary", `{"__CURSOR":"c","MESSAGE":[104,105,10,255]}`, map[string]string{"__CURSOR": "c", "MESSAGE": "hi\n\uFFFD"}, 1, false},
		{"several values", `{"__CURSOR":"c","MESSAGE":["a","b"]}`, map[string]string{"__CURSOR": "c", "MESSAGE": "a"}, 0, false},
		{"several binary values", `{"__CURSOR":"c","MESSAGE":[[97],[98]]}`, map[string]string{"__CURSOR": "c", "MESSAGE": "a"}, 1, false},
		{"null", `{"__CURSOR":"c","MESSAGE":null}`, map[string]string{"__CURSOR": "c", "MESSAGE": ""}, 0, false},
		{"no cursor", `{"MESSAGE":"hi"}`, nil, 0, true},
		{"not json", `-- No entries --`, nil, 0, true},
		{"number", `{"__CURSOR":"c","X":1}`, nil, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseRecord([]byte(tc.line))
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.fields, r.fields)
			require.Equal(t, tc.binary, r.binary)
		})
	}
}

func TestRecordTimestampAndLevel(t *testing.T) {
	r := record{fields: map[string]string{fieldRealtime: "1700000000123456", "PRIORITY": "2"}}
	ts, ok := r.timestamp()
	require.True(t, ok)
	require.Equal(t, time.UnixMicro(1700000000123456), ts)
	require.Equal(t, "crit", r.labelValue(LabelLevel))
	for _, p := range []string{"8", "-1", "x"} {
		require.Empty(t, record{fields: map[string]string{"PRIORITY": p}}.labelValue(LabelLevel), p)
	}
	_, ok = record{fields: map[string]string{}}.timestamp()
	require.False(t, ok)
}

// Entries with the same label values share one label map.
func TestLabelerSharesMaps(t *testing.T) {
	l := newLabeler("job1", map[string]string{"env": "prod"}, []string{LabelUnit, LabelLevel})
	a := record{fields: map[string]string{"_SYSTEMD_UNIT": "kubelet.service", "PRIORITY": "6"}}
	b := record{fields: map[string]string{"_SYSTEMD_UNIT": "kubelet.service", "PRIORITY": "6", "MESSAGE": "other"}}
	la, lb := l.labels(a), l.labels(b)
	require.Equal(t, model.LabelSet{"job": "job1", "env": "prod", "unit": "kubelet.service", "level": "info"}, la)
	la["x"] = "y" // same map
	require.Equal(t, la, lb)
}

func BenchmarkParseRecord(b *testing.B) {
	line := []byte(`{"_BOOT_ID":"0123456789abcdef0123456789abcdef","MESSAGE":"I1207 10:13:00.000000    1234 kubelet.go:2400] \"SyncLoop (PLEG): event for pod\" pod=\"shop/cart-7d9\"","__REALTIME_TIMESTAMP":"1700000000000000","_HOSTNAME":"node1","__MONOTONIC_TIMESTAMP":"1","_SYSTEMD_UNIT":"kubelet.service","PRIORITY":"6","__CURSOR":"s=a1cc36cad1964f6c99f736986e925bab;i=1;b=0123456789abcdef0123456789abcdef;m=1;t=60a24181e4000;x=5ac9251f7a8ee145","SYSLOG_IDENTIFIER":"kubelet","_PID":"1234","_COMM":"kubelet","_TRANSPORT":"stdout"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseRecord(line); err != nil {
			b.Fatal(err)
		}
	}
}
