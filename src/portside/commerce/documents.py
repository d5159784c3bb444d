"""Invoices as documents: the figures of an invoice as lines to show, and its PDF.

Everything comes from ``Invoice.document``, written when the invoice was issued, so a
later change of the store's name, a tax rate or the product never changes an invoice.
"""

from __future__ import annotations

import io
from typing import Any

from portside.commerce import money
from portside.commerce.models import Invoice


def view(invoice: Invoice) -> dict[str, Any]:
    doc = invoice.document
    currency = doc["currency"]
    order = invoice.order

    def fmt(minor: int) -> str:
        return money.format_amount(minor, currency)

    refunds = [
        {
            "date": r.created_at.date().isoformat(),
            "amount": fmt(r.amount_minor),
            "kind": r.kind,
            "reason": r.reason,
        }
        for r in order.refunds.all()
    ]
    return {
        "number": invoice.number,
        "issued": invoice.issued_at.date().isoformat(),
        "seller": doc.get("seller") or {},
        "publisher": doc.get("publisher", ""),
        "buyer": doc.get("buyer") or {},
        "lines": [
            {**line, "net": fmt(int(line.get("net_minor", 0)))} for line in doc.get("lines") or []
        ],
        "net": fmt(int(doc["net_minor"])),
        "tax_label": (doc.get("tax_name") or "Tax")
        + " "
        + money.bp_label(int(doc.get("tax_bp") or 0)),
        "tax": fmt(int(doc["tax_minor"])),
        "total": fmt(int(doc["total_minor"])),
        "note": doc.get("note", ""),
        "status": order.get_status_display(),
        "paid": order.paid_at.date().isoformat() if order.paid_at else "",
        "refunds": refunds,
        "refunded": fmt(order.refunded_minor) if order.refunded_minor else "",
    }


def invoice_pdf(invoice: Invoice) -> bytes:
    """A one-page A4 PDF of the invoice (reportlab's page layout, no HTML engine)."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    data = view(invoice)
    out = io.BytesIO()
    styles = getSampleStyleSheet()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=f"Invoice {data['number']}",
        author=str(data["seller"].get("name", "")),
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=20 * mm,
        bottomMargin=20 * mm,
        invariant=True,
    )

    def para(text: str, style: str = "Normal") -> Paragraph:
        return Paragraph(escape(str(text)).replace("\n", "<br/>"), styles[style])

    seller, buyer = data["seller"], data["buyer"]
    story: list[Any] = [
        para(f"Invoice {data['number']}", "Title"),
        para(
            f"Issued {data['issued']} · {data['status']}"
            + (f" on {data['paid']}" if data["paid"] else "")
        ),
        Spacer(1, 6 * mm),
        Table(
            [
                [para("From", "Heading4"), para("To", "Heading4")],
                [
                    para(
                        "\n".join(
                            x
                            for x in [
                                seller.get("name", ""),
                                seller.get("address", ""),
                                seller.get("country", ""),
                                f"Tax id {seller['tax_id']}" if seller.get("tax_id") else "",
                                f"On behalf of the publisher {data['publisher']}",
                            ]
                            if x
                        )
                    ),
                    para(
                        "\n".join(
                            x
                            for x in [
                                buyer.get("name", ""),
                                buyer.get("address", ""),
                                buyer.get("country", ""),
                                f"Tax id {buyer['tax_id']}" if buyer.get("tax_id") else "",
                            ]
                            if x
                        )
                    ),
                ],
            ],
            colWidths=[85 * mm, 85 * mm],
        ),
        Spacer(1, 8 * mm),
    ]
    rows: list[list[Any]] = [["Item", "Period", "Amount"]]
    for line in data["lines"]:
        rows.append([para(line["description"]), line.get("period", ""), line["net"]])
    rows += [
        ["", "Net", data["net"]],
        ["", data["tax_label"], data["tax"]],
        ["", "Total", data["total"]],
    ]
    table = Table(rows, colWidths=[95 * mm, 45 * mm, 30 * mm])
    table.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
                ("ALIGN", (2, 0), (2, -1), "RIGHT"),
                ("FONTNAME", (1, -1), (2, -1), "Helvetica-Bold"),
                ("LINEABOVE", (1, -3), (2, -3), 0.5, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story.append(table)
    if data["note"]:
        story += [Spacer(1, 6 * mm), para(data["note"])]
    for r in data["refunds"]:
        story.append(para(f"{r['kind'].title()} of {r['amount']} on {r['date']}: {r['reason']}"))
    doc.build(story)
    return out.getvalue()
