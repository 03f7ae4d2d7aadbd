import Foundation

extension BenchmarkReport {
    /// The JSON other tools read: `{"machine": {...}, "results": {"EdDSA": {"raw": n, ...}, ...}}`,
    /// operations per second as numbers (medians).
    public func jsonData() throws -> Data {
        var results: [String: [String: Double]] = [:]
        for (algorithm, figures) in self.results {
            var row: [String: Double] = [:]
            for (mode, measurement) in figures { row[mode.rawValue] = measurement.median.rounded() }
            results[algorithm.rawValue] = row
        }
        let document: [String: Any] = [
            "machine": ["cpu": cpu, "cores": cores, "openssl": openssl] as [String: Any],
            "results": results,
        ]
        return try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
    }

    /// A plain-text table: one row per algorithm and mode, with min and max, then the goal ratios.
    public var table: String {
        var lines = ["machine: \(cpu), \(cores) cores, \(openssl)", ""]
        lines.append("alg    mode            median/s        min/s        max/s")
        for algorithm in BenchmarkAlgorithm.allCases {
            guard let figures = results[algorithm] else { continue }
            for mode in BenchmarkMode.allCases {
                guard let m = figures[mode] else { continue }
                let label = algorithm.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0) + " "
                    + mode.rawValue.padding(toLength: 14, withPad: " ", startingAt: 0)
                lines.append(label + String(format: " %11.0f  %11.0f  %11.0f", m.median, m.minimum, m.maximum))
            }
        }
        lines.append("")
        lines.append("ratios of this run (median of the per-repetition ratios: the modes, PyJWT's process included,")
        lines.append("take one repetition each in turn, so the two sides of a ratio ran seconds apart):")
        for algorithm in BenchmarkAlgorithm.allCases {
            guard let figures = results[algorithm] else { continue }
            lines.append("  \(algorithm.rawValue): full/raw \(format(pairedRatio(figures, .full, .raw))), full_2threads/full \(format(pairedRatio(figures, .full2Threads, .full))), full/pyjwt \(format(pairedRatio(figures, .full, .pyjwt))), raw/pyjwt \(format(pairedRatio(figures, .raw, .pyjwt))), cached \(Int(figures[.cached]?.median ?? 0))/s")
        }
        lines.append("per-repetition ratios, lowest-highest (how much the machine moved during the run):")
        for algorithm in BenchmarkAlgorithm.allCases {
            guard let figures = results[algorithm] else { continue }
            let pairs: [(String, BenchmarkMode, BenchmarkMode)] = [
                ("full/raw", .full, .raw), ("full_2threads/full", .full2Threads, .full), ("full/pyjwt", .full, .pyjwt), ("raw/pyjwt", .raw, .pyjwt),
            ]
            let spreads = pairs.compactMap { name, a, b in
                pairedRatios(figures, a, b).map { "\(name) \(format($0.min()))-\(format($0.max()))" }
            }
            lines.append("  \(algorithm.rawValue): " + spreads.joined(separator: ", "))
        }
        if let first = rssAfterThousand, let all = rssAfterAll {
            lines.append("")
            lines.append(String(format: "memory: RSS %.1f MB after 1,000 full verifications, %.1f MB after %d (difference %+.1f MB)",
                                Double(first) / 1_048_576, Double(all) / 1_048_576, memoryVerifications, Double(all - first) / 1_048_576))
        }
        return lines.joined(separator: "\n")
    }

    /// The median over repetitions of `a_i / b_i`: drift in the machine's speed cancels within a pair.
    public func pairedRatio(_ figures: [BenchmarkMode: Measurement], _ a: BenchmarkMode, _ b: BenchmarkMode) -> Double? {
        pairedRatios(figures, a, b).map { PayRailBenchmarkMedian.of($0) }
    }

    /// `a_i / b_i` for every repetition i, in the order they ran.
    public func pairedRatios(_ figures: [BenchmarkMode: Measurement], _ a: BenchmarkMode, _ b: BenchmarkMode) -> [Double]? {
        guard let x = figures[a]?.rates, let y = figures[b]?.rates, x.count == y.count, !x.isEmpty, y.allSatisfy({ $0 > 0 }) else { return nil }
        return zip(x, y).map { $0 / $1 }
    }

    private func format(_ ratio: Double?) -> String { ratio.map { String(format: "%.2f", $0) } ?? "n/a" }

    /// The same figures as a hand-written SVG bar chart: one group per algorithm, one bar per mode,
    /// on a log scale (the modes span three orders of magnitude), each bar labelled with its value.
    public var svg: String {
        let modes = BenchmarkMode.allCases
        let algorithms = BenchmarkAlgorithm.allCases.filter { results[$0] != nil }
        let colours = ["#4d4d4d", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd"]
        let barWidth = 34.0, gap = 8.0, groupGap = 50.0, left = 80.0, top = 50.0, height = 300.0
        let groupWidth = Double(modes.count) * (barWidth + gap)
        let width = left + Double(algorithms.count) * (groupWidth + groupGap) + 20
        let values = algorithms.flatMap { a in modes.compactMap { results[a]?[$0]?.median } }.filter { $0 > 0 }
        let lowExponent = floor(log10(values.min() ?? 1000))
        let highExponent = ceil(log10(values.max() ?? 1_000_000))
        func y(_ value: Double) -> Double {
            let fraction = (log10(max(value, 1)) - lowExponent) / max(highExponent - lowExponent, 1)
            return top + height * (1 - fraction)
        }
        var out = [String]()
        out.append(##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(Int(width))" height="\##(Int(top + height + 90))" font-family="sans-serif" font-size="12">"##)
        out.append(##"<text x="\##(Int(left))" y="24" font-size="15">Receipt verifications per second (log scale, median of repetitions)</text>"##)
        out.append(##"<text x="\##(Int(left))" y="40" fill="#666">\##(escape("\(cpu), \(cores) cores, \(openssl)"))</text>"##)
        var exponent = lowExponent
        while exponent <= highExponent {
            let value = pow(10, exponent)
            let lineY = y(value)
            out.append(##"<line x1="\##(Int(left - 5))" x2="\##(Int(width - 10))" y1="\##(lineY)" y2="\##(lineY)" stroke="#ddd"/>"##)
            out.append(##"<text x="\##(Int(left - 10))" y="\##(lineY + 4)" text-anchor="end">\##(Self.short(value))</text>"##)
            exponent += 1
        }
        for (groupIndex, algorithm) in algorithms.enumerated() {
            let groupLeft = left + Double(groupIndex) * (groupWidth + groupGap)
            for (modeIndex, mode) in modes.enumerated() {
                guard let value = results[algorithm]?[mode]?.median, value > 0 else { continue }
                let x = groupLeft + Double(modeIndex) * (barWidth + gap)
                let barTop = y(value)
                out.append(##"<rect x="\##(x)" y="\##(barTop)" width="\##(barWidth)" height="\##(top + height - barTop)" fill="\##(colours[modeIndex % colours.count])"><title>\##(algorithm.rawValue) \##(mode.rawValue): \##(Int(value))/s</title></rect>"##)
                out.append(##"<text x="\##(x + barWidth / 2)" y="\##(barTop - 4)" text-anchor="middle" font-size="10">\##(Self.short(value))</text>"##)
            }
            out.append(##"<text x="\##(groupLeft + groupWidth / 2)" y="\##(top + height + 20)" text-anchor="middle" font-size="14">\##(algorithm.rawValue)</text>"##)
        }
        for (index, mode) in modes.enumerated() {
            let x = left + Double(index) * 120
            out.append(##"<rect x="\##(x)" y="\##(top + height + 40)" width="12" height="12" fill="\##(colours[index % colours.count])"/>"##)
            out.append(##"<text x="\##(x + 16)" y="\##(top + height + 51)">\##(mode.rawValue)</text>"##)
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    private static func short(_ value: Double) -> String {
        if value >= 1_000_000 { return String(format: "%.2fM", value / 1_000_000) }
        if value >= 1000 { return String(format: "%.1fk", value / 1000) }
        return String(format: "%.0f", value)
    }
}
