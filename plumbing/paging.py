from django.core.paginator import Page, Paginator
from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """DRF's page numbers, 50 to a page (`page_size` up to 500). A page past the end is DRF's 404
    "Invalid page."; a `page` that isn't a page number at all (`abc`, `0`) is a 400 saying so, as
    for any other bad parameter."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_number(self, request, paginator):
        number = super().get_page_number(request, paginator)  # `last` is the last page's number
        try:
            valid = int(number) >= 1
        except ValueError:
            valid = False
        if not valid:
            raise exceptions.ValidationError(
                {self.page_query_param: [f"Enter a page number from 1 (or “last”); “{number}” is not one."]}
            )
        return number


def page_of(request, items) -> tuple[Page, str]:
    """For a list page: the page of `items` that ?page= asks for (the last for a number past the
    end, the first for anything else), 50 to a page as in the API, and the page's other query
    parameters, urlencoded, for page links that keep the filters (templates/pagination.html)."""
    page = Paginator(items, Pagination.page_size).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, query.urlencode()
