package unix

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure prometheus.exporter.unix.
type Arguments struct {
	// Collectors to run; defaults to node_exporter's default-enabled set.
	Collectors []string `yaml:"collectors"`
	// ExcludeCollectors are removed from Collectors.
	ExcludeCollectors []string `yaml:"exclude_collectors"`

	// ProcfsPath is where the host's /proc is mounted (/host/proc in a DaemonSet);
	// node_exporter's --path.procfs.
	ProcfsPath string `yaml:"procfs_path"`
	// SysfsPath is where the host's /sys is mounted (/host/sys in a DaemonSet);
	// node_exporter's --path.sysfs.
	SysfsPath string `yaml:"sysfs_path"`
	// RootfsPath is where the host's root filesystem is mounted (/host/root in a
	// DaemonSet); node_exporter's --path.rootfs, stripped from reported mount points.
	RootfsPath string `yaml:"rootfs_path"`
	// UdevDataPath is the udev database the diskstats collector reads device properties
	// from; node_exporter's --path.udev.data.
	UdevDataPath string `yaml:"udev_data_path"`

	// Job and Instance label the published target; Instance defaults to the host name.
	Job      string `yaml:"job"`
	Instance string `yaml:"instance"`

	// Filesystem configures the filesystem collector (node_filesystem_*).
	Filesystem FilesystemArguments `yaml:"filesystem"`
	// Netdev configures the netdev collector (node_network_*_total).
	Netdev NetdevArguments `yaml:"netdev"`
	// Netclass configures the netclass collector (node_network_info, node_network_up, ...).
	Netclass NetclassArguments `yaml:"netclass"`
}

// FilesystemArguments are options of the filesystem collector. An empty pattern means
// node_exporter's default.
type FilesystemArguments struct {
	// MountPointsExclude is a regular expression of mount points that get no series;
	// node_exporter's --collector.filesystem.mount-points-exclude (empty: its default).
	MountPointsExclude string `yaml:"mount_points_exclude"`
	// FSTypesExclude is a regular expression of filesystem types that get no series;
	// node_exporter's --collector.filesystem.fs-types-exclude (empty: its default).
	FSTypesExclude string `yaml:"fs_types_exclude"`
}

// NetdevArguments are options of the netdev collector.
type NetdevArguments struct {
	// DeviceExclude is a regular expression of network interfaces that get no series;
	// node_exporter's --collector.netdev.device-exclude (empty: none excluded).
	DeviceExclude string `yaml:"device_exclude"`
	// Netlink reads interface statistics over netlink, from sonde's own network namespace
	// (node_exporter's default; run with hostNetwork to see the node's interfaces). False
	// reads <procfs_path>/net/dev instead.
	Netlink bool `yaml:"netlink"`
}

// NetclassArguments are options of the netclass collector. An empty pattern means
// node_exporter's default.
type NetclassArguments struct {
	// IgnoredDevices is a regular expression of network interfaces that get no series;
	// node_exporter's --collector.netclass.ignored-devices.
	IgnoredDevices string `yaml:"ignored_devices"`
}

// node_exporter flags behind the options above.
const (
	flagMountPointsExclude = "collector.filesystem.mount-points-exclude"
	flagFSTypesExclude     = "collector.filesystem.fs-types-exclude"
	flagNetdevExclude      = "collector.netdev.device-exclude"
	flagNetclassIgnored    = "collector.netclass.ignored-devices"
	flagNetdevNetlink      = "collector.netdev.netlink"
)

// DefaultArguments returns the defaults: node_exporter's own.
func DefaultArguments() *Arguments {
	c := collectors()
	return &Arguments{
		Collectors:   slices.Clone(c.defaultEnabled),
		ProcfsPath:   "/proc",
		SysfsPath:    "/sys",
		RootfsPath:   "/",
		UdevDataPath: "/run/udev/data",
		Job:          "node-exporter",
		Filesystem: FilesystemArguments{
			MountPointsExclude: c.flagDefaults[flagMountPointsExclude],
			FSTypesExclude:     c.flagDefaults[flagFSTypesExclude],
		},
		Netdev:   NetdevArguments{Netlink: c.flagDefaults[flagNetdevNetlink] == "true"},
		Netclass: NetclassArguments{IgnoredDevices: c.flagDefaults[flagNetclassIgnored]},
	}
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	c := collectors()
	var errs []error
	for _, list := range []struct {
		field string
		names []string
	}{{"collectors", a.Collectors}, {"exclude_collectors", a.ExcludeCollectors}} {
		for i, n := range list.names {
			if !c.isKnown[n] {
				errs = append(errs, pipeline.Field(fmt.Sprintf("%s[%d]", list.field, i),
					"unknown collector %q; valid collectors: %s", n, strings.Join(c.known, ", ")))
			}
		}
	}
	if len(errs) == 0 && len(a.enabled()) == 0 {
		errs = append(errs, pipeline.Field("collectors", "no collector left to run (collectors minus exclude_collectors is empty)"))
	}
	for _, p := range []struct{ field, path string }{
		{"procfs_path", a.ProcfsPath}, {"sysfs_path", a.SysfsPath},
		{"rootfs_path", a.RootfsPath}, {"udev_data_path", a.UdevDataPath},
	} {
		if !filepath.IsAbs(p.path) {
			errs = append(errs, pipeline.Field(p.field, "must be an absolute path, got %q", p.path))
		}
	}
	if a.Job == "" {
		errs = append(errs, pipeline.Field("job", "must not be empty"))
	}
	// node_exporter compiles these with regexp.MustCompile: a bad pattern would panic there.
	for _, re := range []struct{ field, expr string }{
		{"filesystem.mount_points_exclude", a.Filesystem.MountPointsExclude},
		{"filesystem.fs_types_exclude", a.Filesystem.FSTypesExclude},
		{"netdev.device_exclude", a.Netdev.DeviceExclude},
		{"netclass.ignored_devices", a.Netclass.IgnoredDevices},
	} {
		if _, err := regexp.Compile(re.expr); err != nil {
			errs = append(errs, pipeline.Field(re.field, "invalid regular expression: %v", err))
		}
	}
	return errors.Join(errs...)
}

// enabled returns Collectors minus ExcludeCollectors, sorted and without duplicates.
func (a *Arguments) enabled() []string {
	var out []string
	for _, n := range a.Collectors {
		if !slices.Contains(a.ExcludeCollectors, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// flags returns the node_exporter command line that realises the process-wide settings in a:
// the paths and collector options. Every collector is switched on, because the switches only
// gate which collectors NewNodeCollector may build; each component picks its own set by
// name. So two components that differ only in their collector lists can run side by side.
// (One side effect: the cpu collector's optional cpu.info mode, not exposed here, reports
// frequencies only while the cpufreq switch is on.)
func (a *Arguments) flags() []string {
	c := collectors()
	out := []string{
		"--path.procfs=" + a.ProcfsPath,
		"--path.sysfs=" + a.SysfsPath,
		"--path.rootfs=" + a.RootfsPath,
		"--path.udev.data=" + a.UdevDataPath,
	}
	for _, n := range c.known {
		if !c.isDefault[n] {
			out = append(out, "--collector."+n)
		}
	}
	// An empty pattern leaves node_exporter's default in place. Note that an empty regular
	// expression would match every name: for netclass it would ignore every device.
	for _, o := range []struct{ flag, value string }{
		{flagMountPointsExclude, a.Filesystem.MountPointsExclude},
		{flagFSTypesExclude, a.Filesystem.FSTypesExclude},
		{flagNetdevExclude, a.Netdev.DeviceExclude},
		{flagNetclassIgnored, a.Netclass.IgnoredDevices},
	} {
		if o.value != "" {
			out = append(out, "--"+o.flag+"="+o.value)
		}
	}
	if a.Netdev.Netlink {
		out = append(out, "--"+flagNetdevNetlink)
	} else {
		out = append(out, "--no-"+flagNetdevNetlink)
	}
	return out
}
