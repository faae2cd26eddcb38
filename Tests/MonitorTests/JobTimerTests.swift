import Foundation
import MonitorConfig
import Testing
@testable import Monitor

@Suite struct JobTimerTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func intervalJobsRunAtStartThenAtFixedRate() {
        var timer = JobTimer(schedule: .interval(.seconds(60)), jitter: .zero, now: now)
        #expect(timer.due == now)
        let r1 = timer.advance(now: now.addingTimeInterval(1))
        #expect(r1 == 0)
        #expect(timer.due == now.addingTimeInterval(60))
    }

    @Test func overrunningRunsCountMissedOccurrences() {
        var timer = JobTimer(schedule: .interval(.seconds(60)), jitter: .zero, now: now)
        let missed = timer.advance(now: now.addingTimeInterval(200))
        #expect(missed == 3)
        #expect(timer.due == now.addingTimeInterval(240))
    }

    @Test func jitterDelaysWithinItsBound() {
        for _ in 0..<50 {
            let timer = JobTimer(schedule: .interval(.seconds(60)), jitter: .seconds(10), now: now)
            let delay = timer.due!.timeIntervalSince(now)
            #expect(delay >= 0 && delay <= 10)
            #expect(timer.nominalDue == now)
        }
    }

    @Test func cronJobsWaitForTheirNextMinute() throws {
        let cron = try CronSchedule(parsing: "*/15 * * * *")
        let utc = TimeZone(identifier: "UTC")!
        // 1_800_000_000 is 2027-01-15T08:00:00Z.
        var timer = JobTimer(schedule: .cron(cron), jitter: .zero, timeZone: utc, now: now)
        #expect(timer.due == now.addingTimeInterval(15 * 60))
        let r2 = timer.advance(now: now.addingTimeInterval(15 * 60 + 5))
        #expect(r2 == 0)
        #expect(timer.due == now.addingTimeInterval(30 * 60))
        let r3 = timer.advance(now: now.addingTimeInterval(75 * 60))
        #expect(r3 == 3)
        #expect(timer.due == now.addingTimeInterval(90 * 60))
    }
}
