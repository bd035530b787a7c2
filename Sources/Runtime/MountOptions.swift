#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// OCI/fstab mount options split into mount(2) flags, propagation flags and the data string.
public struct MountOptions: Equatable {
    public var flags: UInt = 0
    public var clearedFlags: UInt = 0
    public var propagation: [UInt] = []
    public var data: [String] = []
    public var isBind = false
    public var isRecursive = false

    public init(_ options: [String]) {
        for option in options {
            if let (flag, clear) = Self.flagOptions[option] {
                if clear { clearedFlags |= flag; flags &= ~flag } else { flags |= flag }
            } else if let propagation = Self.propagationOptions[option] {
                self.propagation.append(propagation)
            } else if option == "bind" {
                isBind = true
            } else if option == "rbind" {
                isBind = true
                isRecursive = true
            } else if !option.isEmpty {
                data.append(option)
            }
        }
    }

    public var dataString: String? { data.isEmpty ? nil : data.joined(separator: ",") }

    /// The flags as mount_setattr(2) attributes: what to set and what to clear on a bind
    /// mount. Only the per-mount flags have attributes; an atime option replaces the atime mode.
    public var mountAttributes: (set: UInt64, clear: UInt64) {
        var set: UInt64 = 0
        var clear: UInt64 = 0
        let perMount: [(UInt, Int32)] = [(UInt(MS_RDONLY), SW_MOUNT_ATTR_RDONLY), (UInt(MS_NOSUID), SW_MOUNT_ATTR_NOSUID),
                                         (UInt(MS_NODEV), SW_MOUNT_ATTR_NODEV), (UInt(MS_NOEXEC), SW_MOUNT_ATTR_NOEXEC),
                                         (UInt(MS_NODIRATIME), SW_MOUNT_ATTR_NODIRATIME)]
        for (flag, attribute) in perMount {
            if flags & flag != 0 { set |= UInt64(attribute) }
            if clearedFlags & flag != 0 { clear |= UInt64(attribute) }
        }
        let atime: [(UInt, Int32)] = [(UInt(MS_NOATIME), SW_MOUNT_ATTR_NOATIME), (UInt(MS_STRICTATIME), SW_MOUNT_ATTR_STRICTATIME),
                                      (UInt(MS_RELATIME), SW_MOUNT_ATTR_RELATIME)]
        if let (_, mode) = atime.first(where: { flags & $0.0 != 0 }) {
            set |= UInt64(mode)
            clear |= UInt64(SW_MOUNT_ATTR__ATIME)
        }
        return (set, clear)
    }

    public static let flagOptions: [String: (UInt, Bool)] = [
        "ro": (UInt(MS_RDONLY), false), "rw": (UInt(MS_RDONLY), true),
        "nosuid": (UInt(MS_NOSUID), false), "suid": (UInt(MS_NOSUID), true),
        "nodev": (UInt(MS_NODEV), false), "dev": (UInt(MS_NODEV), true),
        "noexec": (UInt(MS_NOEXEC), false), "exec": (UInt(MS_NOEXEC), true),
        "sync": (UInt(MS_SYNCHRONOUS), false), "async": (UInt(MS_SYNCHRONOUS), true),
        "dirsync": (UInt(MS_DIRSYNC), false), "remount": (UInt(MS_REMOUNT), false),
        "mand": (UInt(MS_MANDLOCK), false), "nomand": (UInt(MS_MANDLOCK), true),
        "atime": (UInt(MS_NOATIME), true), "noatime": (UInt(MS_NOATIME), false),
        "diratime": (UInt(MS_NODIRATIME), true), "nodiratime": (UInt(MS_NODIRATIME), false),
        "relatime": (UInt(MS_RELATIME), false), "norelatime": (UInt(MS_RELATIME), true),
        "strictatime": (UInt(MS_STRICTATIME), false), "nostrictatime": (UInt(MS_STRICTATIME), true),
        "silent": (UInt(MS_SILENT), false), "loud": (UInt(MS_SILENT), true),
    ]

    public static let propagationOptions: [String: UInt] = [
        "private": UInt(MS_PRIVATE), "rprivate": UInt(MS_PRIVATE | MS_REC),
        "shared": UInt(MS_SHARED), "rshared": UInt(MS_SHARED | MS_REC),
        "slave": UInt(MS_SLAVE), "rslave": UInt(MS_SLAVE | MS_REC),
        "unbindable": UInt(MS_UNBINDABLE), "runbindable": UInt(MS_UNBINDABLE | MS_REC),
    ]
}
