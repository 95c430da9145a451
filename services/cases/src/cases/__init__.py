"""Cases: resident requests, disputes and petitions, from report to rating, with SLA."""
