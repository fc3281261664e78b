from django.urls import path

from ketaclinic.inventory import count_views, movement_views, report_views, views

urlpatterns = [
    path("inventory/", views.ledger, name="inventory_ledger"),
    path("inventory/balances/", views.balances, name="inventory_balances"),
    path("inventory/products/new/", views.product_new, name="inventory_product_new"),
    path("inventory/receive/", movement_views.receive, name="inventory_receive"),
    path("inventory/administer/", movement_views.administer, name="inventory_administer"),
    path("inventory/waste/", movement_views.waste, name="inventory_waste"),
    path("inventory/waste/unwitnessed/", movement_views.unwitnessed, name="inventory_unwitnessed"),
    path(
        "inventory/waste/<int:entry_id>/witness/", movement_views.witness, name="inventory_witness"
    ),
    path(
        "inventory/entries/<int:entry_id>/correct/",
        movement_views.correct,
        name="inventory_correct",
    ),
    path("inventory/locations/", views.locations, name="inventory_locations"),
    path("inventory/locations/new/", views.location_add, name="inventory_location_add"),
    path("inventory/record/<str:kind>/", movement_views.movement, name="inventory_movement"),
    path("inventory/counts/", count_views.counts, name="inventory_counts"),
    path("inventory/counts/new/", count_views.count_new, name="inventory_count_new"),
    path("inventory/counts/<int:count_id>/", count_views.count_detail, name="inventory_count"),
    path(
        "inventory/counts/lines/<int:line_id>/resolve/",
        count_views.count_resolve,
        name="inventory_count_resolve",
    ),
    path("inventory/losses/", count_views.losses, name="inventory_losses"),
    path("inventory/losses/<int:report_id>/", count_views.loss_detail, name="inventory_loss"),
    path("inventory/reports/", report_views.reports_page, name="inventory_reports"),
    path(
        "inventory/reports/download/",
        report_views.report_download,
        name="inventory_report_download",
    ),
]
