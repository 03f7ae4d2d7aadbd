import LightningRail
import Testing

@Suite("Lightning backend value types") struct LightningBackendTypesTests {
    @Test func statusesCompareByValue() {
        #expect(OutgoingPaymentStatus.succeeded(preimage: "00", feeMsat: 1) != .succeeded(preimage: "00", feeMsat: 2))
        #expect(IncomingInvoiceStatus.open != .closed)
        #expect(CreatedInvoice(bolt11: "lnbc1", paymentHash: "ab") == CreatedInvoice(bolt11: "lnbc1", paymentHash: "ab"))
    }
}
