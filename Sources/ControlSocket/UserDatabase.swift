import Glibc

/// Look-ups in the user and group database (`/etc/passwd`, `/etc/group`, NSS), thread-safe.
enum UserDatabase {
    /// The id of the group named `name`; a decimal number is taken as an id.
    static func groupID(named name: String) -> gid_t? {
        var group = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 4096)
        while true {
            let status = getgrnam_r(name, &group, &buffer, buffer.count, &result)
            if status == ERANGE && buffer.count < 1 << 20 {
                buffer = [CChar](repeating: 0, count: buffer.count * 4)
                continue
            }
            if let result { return result.pointee.gr_gid }
            return gid_t(name)
        }
    }

    /// The name of the user with id `uid`.
    static func userName(of uid: uid_t) -> String? {
        var user = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        while true {
            let status = getpwuid_r(uid, &user, &buffer, buffer.count, &result)
            if status == ERANGE && buffer.count < 1 << 20 {
                buffer = [CChar](repeating: 0, count: buffer.count * 4)
                continue
            }
            guard let result, let name = result.pointee.pw_name else { return nil }
            return String(cString: name)
        }
    }

    /// Every group the user `name` belongs to according to the database, `primary` included.
    static func groups(ofUser name: String, primary: gid_t) -> [gid_t] {
        var count: Int32 = 32
        while true {
            var groups = [gid_t](repeating: 0, count: Int(count))
            var found = count
            if getgrouplist(name, primary, &groups, &found) >= 0 {
                return Array(groups.prefix(Int(found)))
            }
            guard found > count else { return [primary] }
            count = found
        }
    }
}
