package file

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

func TestExpand(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{
		"pods/ns_a_1/app/0.log",
		"pods/ns_a_1/app/0.log.20240305-070809",
		"pods/ns_a_1/app/0.log.20240305-060000.gz",
		"pods/ns_a_1/app/0.log.20240305-050000.gz.tmp",
		"pods/ns_a_1/app/0.log.backup",
		"pods/ns_b_2/web/1.log",
		"pods/ns_b_2/web/notes.txt",
		"other/x.log",
	} {
		p := filepath.Join(root, f)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("x\n"), 0o644))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "pods", "ns_c_3", "app"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "pods", "dir.log"), 0o755)) // a directory, not a file
	require.NoError(t, os.Symlink(filepath.Join(root, "other", "x.log"), filepath.Join(root, "pods", "ns_b_2", "web", "link.log")))

	rel := func(ps []string) []string {
		out := make([]string, 0, len(ps))
		for _, p := range ps {
			r, _ := filepath.Rel(root, p)
			out = append(out, r)
		}
		sort.Strings(out)
		return out
	}
	tests := []struct {
		pattern string
		files   []string // "path" or "path<-rotation of"
		dirs    []string
	}{
		{
			pattern: "pods/*/*/*.log",
			files: []string{
				"pods/ns_a_1/app/0.log", "pods/ns_a_1/app/0.log.20240305-070809<-pods/ns_a_1/app/0.log",
				"pods/ns_b_2/web/1.log", "pods/ns_b_2/web/link.log->other/x.log",
			},
			dirs: []string{"other", "pods", "pods/dir.log", "pods/ns_a_1", "pods/ns_a_1/app", "pods/ns_b_2", "pods/ns_b_2/web", "pods/ns_c_3", "pods/ns_c_3/app"},
		},
		{
			pattern: "pods/*/app/*",
			files: []string{
				"pods/ns_a_1/app/0.log", "pods/ns_a_1/app/0.log.20240305-070809", "pods/ns_a_1/app/0.log.backup",
			},
			// Every pod directory is watched: one may gain an app/ directory later.
			dirs: []string{"pods", "pods/dir.log", "pods/ns_a_1", "pods/ns_a_1/app", "pods/ns_b_2", "pods/ns_c_3", "pods/ns_c_3/app"},
		},
		{
			pattern: "pods/ns_b_2/web/1.log",
			files:   []string{"pods/ns_b_2/web/1.log"},
			dirs:    []string{"pods/ns_b_2/web"},
		},
		// A root that does not exist yet: the directory above it is watched for it.
		{pattern: "missing/*.log", dirs: []string{"."}},
		{pattern: "missing/deeper/*/*.log", dirs: []string{"."}},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			files, dirs := newExpander().expand(filepath.Join(root, tc.pattern))
			var got []string
			for _, m := range files {
				s := rel([]string{m.path})[0]
				if m.rotatedOf != "" {
					s += "<-" + rel([]string{m.rotatedOf})[0]
				}
				if m.real != m.path {
					s += "->" + rel([]string{m.real})[0]
				}
				got = append(got, s)
			}
			sort.Strings(got)
			want := append([]string(nil), tc.files...)
			sort.Strings(want)
			require.Equal(t, want, got)
			gotDirs := rel(dirs)
			if len(tc.dirs) == 0 {
				require.Empty(t, gotDirs)
			} else {
				require.Equal(t, tc.dirs, dedup(gotDirs))
			}
		})
	}
}

func dedup(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func TestExpanderCache(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "a.log"), nil, 0o644))
	x := newExpander()
	x.begin()
	files, _ := x.expand(filepath.Join(root, "*.log"))
	require.Len(t, files, 1)
	x.end()
	// A new file changes the directory's time: the listing is read again.
	require.NoError(t, os.WriteFile(filepath.Join(root, "b.log"), nil, 0o644))
	x.begin()
	files, _ = x.expand(filepath.Join(root, "*.log"))
	require.Len(t, files, 2)
	x.end()
	x.begin()
	x.end()
	require.Empty(t, x.dirs, "directories a round did not use are forgotten")
}

func TestNamesNeverRead(t *testing.T) {
	for name, want := range map[string]bool{
		"0.log": false, "0.log.20240305-070809": false, "0.log.20240305-070809.gz": true,
		"0.log.20240305-070809.gz.tmp": true, "x.tmp": true, "x.zst": true, "x.log.xz": true,
	} {
		require.Equal(t, want, neverRead(name), name)
	}
	for name, want := range map[string]bool{
		"0.log.20240305-070809": true, "0.log.20240305-07080": false, "0.log.20240305_070809": false,
		"0.log.2024030a-070809": false, "1.log.20240305-070809": false, "0.log.20240305-070809.gz": false,
	} {
		require.Equal(t, want, rotatedSuffix(name, "0.log"), name)
	}
}

func TestStreamLabels(t *testing.T) {
	s := newSettings(testArgs("/x"))
	s.kubernetes = true
	s.staticLabels = model.LabelSet{"cluster": "c1", "team": "static"}
	sl := newStreamLabels("/var/log/containers/link.log", "/var/log/pods/default_web-1_uid-9/nginx/0.log",
		model.LabelSet{"team": "target", "app": "web", "__meta_x": "y", "namespace": "from-target"}, s, nil)
	require.Equal(t, model.LabelSet{
		"namespace": "from-target", "pod": "web-1", "container": "nginx", "job": "default/web-1",
		"app": "web", "team": "static", "cluster": "c1", "stream": "stderr",
	}, sl.byStream[2])
	require.Equal(t, `{uid="uid-9"}`, sl.metadata.String())
	require.NotContains(t, sl.byStream[0], model.LabelName("stream"))

	// Not the kubelet's layout, or path_labels: none: a filename label.
	sl = newStreamLabels("/var/log/syslog", "/var/log/syslog", nil, s, nil)
	require.Equal(t, model.LabelSet{"filename": "/var/log/syslog", "cluster": "c1", "team": "static"}, sl.byStream[0])
	s.kubernetes = false
	sl = newStreamLabels("/var/log/pods/a_b_c/d/0.log", "/var/log/pods/a_b_c/d/0.log", nil, s, nil)
	require.Contains(t, sl.byStream[0], model.LabelName("filename"))
	require.True(t, strings.HasSuffix(string(sl.byStream[0]["filename"]), "0.log"))
}

func TestKubernetesPath(t *testing.T) {
	tests := []struct {
		path                    string
		ns, pod, uid, container string
		ok                      bool
	}{
		{"/var/log/pods/kube-system_coredns-5d78_9999-8888/coredns/1.log", "kube-system", "coredns-5d78", "9999-8888", "coredns", true},
		{"/var/log/pods/a_b_c/d/0.log.20240305-070809", "a", "b", "c", "d", true},
		{"/var/log/pods/a_b/d/0.log", "", "", "", "", false},
		{"/var/log/pods/a_b_c_d/e/0.log", "", "", "", "", false},
		{"/var/log/pods/__c/d/0.log", "", "", "", "", false},
		{"0.log", "", "", "", "", false},
	}
	for _, tc := range tests {
		ns, pod, uid, container, ok := kubernetesPath(tc.path)
		require.Equal(t, tc.ok, ok, tc.path)
		require.Equal(t, []string{tc.ns, tc.pod, tc.uid, tc.container}, []string{ns, pod, uid, container}, tc.path)
	}
}
