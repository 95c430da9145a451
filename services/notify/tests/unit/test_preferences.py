from notify.preferences import mask_email, mask_phone, mask_webhook


def test_a_phone_shows_its_first_three_and_last_four_digits() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("12345") == "***45"


def test_an_email_shows_its_first_letter_and_domain() -> None:
    assert mask_email("wang.fang@example.org") == "w***@example.org"


def test_a_robot_webhook_hides_its_key_but_its_last_four_characters() -> None:
    url = (
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
    )
    masked = mask_webhook(url)
    assert masked == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=****5aaa"
    assert "693a91f6" not in masked
    assert mask_webhook("http://127.0.0.1:8025/cgi-bin/webhook/send?key=shibei-1").endswith(
        "key=****"
    )
