package unix

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// TestDefaultCollectors pins node_exporter's default-enabled set on Linux, so that an
// upgrade that changes it is noticed.
func TestDefaultCollectors(t *testing.T) {
	require.Equal(t, []string{
		"arp", "bcache", "bcachefs", "bonding", "btrfs", "conntrack", "cpu", "cpufreq",
		"diskstats", "dmi", "dmmultipath", "edac", "entropy", "fibrechannel", "filefd",
		"filesystem", "hwmon", "infiniband", "ipvs", "kernel_hung", "loadavg", "mdadm",
		"meminfo", "netclass", "netdev", "netstat", "nfs", "nfsd", "nvme", "os",
		"powersupplyclass", "pressure", "rapl", "schedstat", "selinux", "sockstat", "softnet",
		"stat", "tapestats", "textfile", "thermal_zone", "time", "timex", "udp_queues", "uname",
		"vmstat", "watchdog", "xfs", "zfs",
	}, DefaultCollectors())
	require.Equal(t, DefaultCollectors(), DefaultArguments().Collectors)
	require.Contains(t, KnownCollectors(), "systemd") // known, not enabled by default
	require.NotContains(t, DefaultCollectors(), "systemd")
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(a *Arguments)
		fields []string // FieldError paths, in order; none means valid
		text   string   // a substring of the error
	}{
		{name: "defaults", modify: func(*Arguments) {}},
		{name: "non-default collector", modify: func(a *Arguments) { a.Collectors = []string{"systemd", "cpu"} }},
		{name: "duplicates are fine", modify: func(a *Arguments) { a.Collectors = []string{"cpu", "cpu"} }},
		{
			name:   "unknown collector lists the valid ones",
			modify: func(a *Arguments) { a.Collectors = []string{"cpu", "gpu"} },
			fields: []string{"collectors[1]"},
			text:   `unknown collector "gpu"; valid collectors: arp, bcache,`,
		},
		{
			name:   "unknown excluded collector",
			modify: func(a *Arguments) { a.ExcludeCollectors = []string{"nope"} },
			fields: []string{"exclude_collectors[0]"},
		},
		{
			name:   "nothing left",
			modify: func(a *Arguments) { a.Collectors = []string{"cpu"}; a.ExcludeCollectors = []string{"cpu"} },
			fields: []string{"collectors"},
		},
		{
			name:   "relative paths and empty job",
			modify: func(a *Arguments) { a.ProcfsPath = "proc"; a.UdevDataPath = ""; a.Job = "" },
			fields: []string{"procfs_path", "udev_data_path", "job"},
		},
		{
			name: "bad patterns",
			modify: func(a *Arguments) {
				a.Filesystem.MountPointsExclude = "("
				a.Netclass.IgnoredDevices = "[a-"
			},
			fields: []string{"filesystem.mount_points_exclude", "netclass.ignored_devices"},
			text:   "invalid regular expression",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := DefaultArguments()
			tc.modify(a)
			err := a.Validate()
			if len(tc.fields) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, tc.fields, pipelinetest.FieldsOf(err))
			if tc.text != "" {
				require.ErrorContains(t, err, tc.text)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	// Every collector switch that is off by default is turned on: the switches only gate
	// what NewNodeCollector may build, and each component builds its own set by name.
	var enableAll []string
	for _, c := range KnownCollectors() {
		if !strings.Contains(strings.Join(DefaultCollectors(), " ")+" ", c+" ") {
			enableAll = append(enableAll, "--collector."+c)
		}
	}
	require.Contains(t, enableAll, "--collector.systemd")
	require.NotContains(t, enableAll, "--collector.cpu")

	defaults := DefaultArguments()
	for _, tc := range []struct {
		name    string
		modify  func(a *Arguments)
		paths   []string
		options []string
	}{
		{
			name:   "defaults",
			modify: func(*Arguments) {},
			paths:  []string{"--path.procfs=/proc", "--path.sysfs=/sys", "--path.rootfs=/", "--path.udev.data=/run/udev/data"},
			options: []string{
				"--collector.filesystem.mount-points-exclude=" + defaults.Filesystem.MountPointsExclude,
				"--collector.filesystem.fs-types-exclude=" + defaults.Filesystem.FSTypesExclude,
				"--collector.netclass.ignored-devices=^$",
				"--collector.netdev.netlink",
			},
		},
		{
			name: "host mounts and options",
			modify: func(a *Arguments) {
				a.ProcfsPath, a.SysfsPath, a.RootfsPath = "/host/proc", "/host/sys", "/host/root"
				a.UdevDataPath = "/host/root/run/udev/data"
				a.Filesystem = FilesystemArguments{MountPointsExclude: "^/(dev|proc|sys)($|/)", FSTypesExclude: "^tmpfs$"}
				a.Netdev = NetdevArguments{DeviceExclude: "^veth", Netlink: false}
				a.Netclass.IgnoredDevices = "^(veth|cali).*"
			},
			paths: []string{"--path.procfs=/host/proc", "--path.sysfs=/host/sys", "--path.rootfs=/host/root", "--path.udev.data=/host/root/run/udev/data"},
			options: []string{
				"--collector.filesystem.mount-points-exclude=^/(dev|proc|sys)($|/)",
				"--collector.filesystem.fs-types-exclude=^tmpfs$",
				"--collector.netdev.device-exclude=^veth",
				"--collector.netclass.ignored-devices=^(veth|cali).*",
				"--no-collector.netdev.netlink",
			},
		},
		{
			name: "empty patterns keep node_exporter's defaults",
			modify: func(a *Arguments) {
				a.Filesystem = FilesystemArguments{}
				a.Netclass.IgnoredDevices = ""
			},
			paths:   []string{"--path.procfs=/proc", "--path.sysfs=/sys", "--path.rootfs=/", "--path.udev.data=/run/udev/data"},
			options: []string{"--collector.netdev.netlink"},
		},
		{
			name:   "the collector list is not a process-wide setting",
			modify: func(a *Arguments) { a.Collectors = []string{"systemd"}; a.ExcludeCollectors = []string{"cpu"} },
			paths:  []string{"--path.procfs=/proc", "--path.sysfs=/sys", "--path.rootfs=/", "--path.udev.data=/run/udev/data"},
			options: []string{
				"--collector.filesystem.mount-points-exclude=" + defaults.Filesystem.MountPointsExclude,
				"--collector.filesystem.fs-types-exclude=" + defaults.Filesystem.FSTypesExclude,
				"--collector.netclass.ignored-devices=^$",
				"--collector.netdev.netlink",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := DefaultArguments()
			tc.modify(a)
			want := append(append(append([]string{}, tc.paths...), enableAll...), tc.options...)
			require.Equal(t, want, a.flags())
		})
	}
}

func TestEnabled(t *testing.T) {
	a := &Arguments{Collectors: []string{"stat", "cpu", "stat", "meminfo"}, ExcludeCollectors: []string{"meminfo"}}
	require.Equal(t, []string{"cpu", "stat"}, a.enabled())
}

func TestDescribeDiff(t *testing.T) {
	got := describeDiff(
		[]string{"--path.procfs=/proc", "--collector.x", "--collector.netdev.netlink", "--collector.netdev.device-exclude=^veth"},
		[]string{"--path.procfs=/host/proc", "--collector.x", "--no-collector.netdev.netlink"},
	)
	require.Equal(t, `collector.netdev.device-exclude: running "^veth", wanted (default); `+
		`collector.netdev.netlink: running "true", wanted "false"; path.procfs: running "/proc", wanted "/host/proc"`, got)
}
