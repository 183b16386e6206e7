from django.core.paginator import Page, Paginator
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def page_of(request, items) -> tuple[Page, str]:
    """For a list page: the page of `items` that ?page= asks for (the last for a number past the
    end, the first for anything else), 50 to a page as in the API, and the page's other query
    parameters, urlencoded, for page links that keep the filters (templates/pagination.html)."""
    page = Paginator(items, Pagination.page_size).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, query.urlencode()
