import ControlSocket
import Foundation
import Glibc
import Testing

/// Who may run mutating commands.
@Suite struct PeerCredentialsTests {
    private let daemonUID: uid_t = 4000
    private let nobody = PeerCredentials(pid: 1, uid: 65534, gid: 65534)

    @Test func rootAndTheDaemonsUserAreAuthorized() {
        #expect(PeerCredentials(pid: 1, uid: 0, gid: 0).isAuthorized(forMutatingCommandsBy: daemonUID, group: nil))
        #expect(PeerCredentials(pid: 1, uid: daemonUID, gid: 9).isAuthorized(forMutatingCommandsBy: daemonUID, group: nil))
    }

    @Test func othersNeedTheGroup() {
        #expect(!nobody.isAuthorized(forMutatingCommandsBy: daemonUID, group: nil))
        #expect(!nobody.isAuthorized(forMutatingCommandsBy: daemonUID, group: 0))
        #expect(nobody.isAuthorized(forMutatingCommandsBy: daemonUID, group: 65534))
    }

    @Test func unknownUsersHaveOnlyTheirPrimaryGroup() {
        let stranger = PeerCredentials(pid: 1, uid: 54321, gid: 54321)
        #expect(!stranger.isAuthorized(forMutatingCommandsBy: daemonUID, group: 0))
        #expect(stranger.isAuthorized(forMutatingCommandsBy: daemonUID, group: 54321))
    }

    /// Uses the first group in /etc/group that lists a member whose primary group is another one.
    @Test func supplementaryGroupsCount() throws {
        let groups = try String(contentsOfFile: "/etc/group", encoding: .utf8)
        let candidates: [(gid_t, uid_t, gid_t)] = groups.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count == 4, let gid = gid_t(fields[2]), let member = fields[3].split(separator: ",").first,
                let user = getpwnam(String(member)), user.pointee.pw_gid != gid, user.pointee.pw_uid != 0
            else { return nil }
            return (gid, user.pointee.pw_uid, user.pointee.pw_gid)
        }
        let (group, uid, primary) = try #require(candidates.first, "no user with a supplementary group here")
        let member = PeerCredentials(pid: 1, uid: uid, gid: primary)
        #expect(member.isAuthorized(forMutatingCommandsBy: daemonUID, group: group))
        #expect(!nobody.isAuthorized(forMutatingCommandsBy: daemonUID, group: group))
    }
}
