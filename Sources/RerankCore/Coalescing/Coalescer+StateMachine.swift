extension Coalescer {
    /// Which keys are being computed right now, and by which flight. Pure: no locks, no IO, no time.
    ///
    /// A key is *led* by the first request that misses it and *joined* by every other request that
    /// misses it while the leader's flight is open. Finishing a flight forgets exactly the keys it led.
    struct StateMachine {
        typealias FlightID = Int

        struct Claim: Equatable {
            /// The new flight's id when this claim leads at least one key.
            var flight: FlightID?
            /// Keys this claim must compute (in the order given).
            var lead: [Key]
            /// Keys already being computed, with the flight computing each.
            var joined: [(key: Key, flight: FlightID)]

            static func == (a: Claim, b: Claim) -> Bool {
                a.flight == b.flight && a.lead == b.lead
                    && a.joined.map(\.key) == b.joined.map(\.key) && a.joined.map(\.flight) == b.joined.map(\.flight)
            }
        }

        private(set) var inFlight: [Key: FlightID] = [:]
        private var nextFlight: FlightID = 0

        /// Splits `keys` (unique) into those to lead and those to join.
        mutating func claim(_ keys: [Key]) -> Claim {
            var claim = Claim(flight: nil, lead: [], joined: [])
            let id = nextFlight
            for key in keys {
                if let other = inFlight[key] {
                    claim.joined.append((key, other))
                } else {
                    inFlight[key] = id
                    claim.lead.append(key)
                }
            }
            if !claim.lead.isEmpty {
                claim.flight = id
                nextFlight += 1
            }
            return claim
        }

        /// Forgets the keys `flight` led; later misses of them start new flights.
        mutating func finish(flight: FlightID, keys: [Key]) {
            for key in keys where inFlight[key] == flight {
                inFlight.removeValue(forKey: key)
            }
        }
    }
}
